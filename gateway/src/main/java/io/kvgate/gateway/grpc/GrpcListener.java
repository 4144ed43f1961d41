package io.kvgate.gateway.grpc;

import io.grpc.BindableService;
import io.grpc.Metadata;
import io.grpc.Server;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerCredentials;
import io.grpc.ServerInterceptor;
import io.grpc.ServerInterceptors;
import io.grpc.Status;
import io.grpc.TlsServerCredentials;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.kvgate.gateway.auth.KeyRing;
import io.kvgate.gateway.config.GatewayConfig;
import io.kvgate.proto.v1.KvEventServiceGrpc;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import java.io.File;
import java.net.InetSocketAddress;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * kvgate's gRPC listener ({@code grpc.*}, {@code --grpc-port}): the engines' KV-event streams and
 * the admin API, served by gRPC-Java over its shaded Netty.
 *
 * <p>Threads. gRPC runs its own transport threads, and calls run on a small fixed pool of {@code
 * kvgate-grpc} daemon threads (two, or the number of cores if more) rather than gRPC's default
 * unbounded cached pool: event streams apply their batches there, and an admin call that needs the
 * gateway's Vert.x side hops over to it. Nothing here runs on a Vert.x event loop, and nothing on
 * an event loop waits for gRPC: binding and shutting down run on a Vert.x worker.
 *
 * <p>Auth. When a client key is an admin key, every call must carry one in its {@code
 * authorization} metadata ({@code Bearer <key>}), as on the admin HTTP listener; otherwise
 * UNAUTHENTICATED. Without admin keys the listener is open, and kvgate warns when it listens beyond
 * loopback.
 */
public final class GrpcListener {

  private final Server server;
  private final ExecutorService executor;

  private GrpcListener(Server server, ExecutorService executor) {
    this.server = server;
    this.executor = executor;
  }

  /** The executor calls run on: work for a stream triggered elsewhere is queued here too. */
  public static ExecutorService newExecutor() {
    int threads = Math.max(2, Runtime.getRuntime().availableProcessors());
    AtomicInteger n = new AtomicInteger();
    ThreadFactory f =
        r -> {
          Thread t = new Thread(r, "kvgate-grpc-" + n.incrementAndGet());
          t.setDaemon(true);
          return t;
        };
    return Executors.newFixedThreadPool(threads, f);
  }

  /**
   * Binds the listener on a Vert.x worker.
   *
   * @param executor from {@link #newExecutor()}; shut down with the listener
   */
  public static Future<GrpcListener> start(
      Vertx vertx,
      GatewayConfig.Grpc config,
      KeyRing keys,
      List<BindableService> services,
      ExecutorService executor) {
    return vertx.executeBlocking(
        () -> {
          InetSocketAddress address = new InetSocketAddress(config.host(), config.port());
          NettyServerBuilder b =
              config.tls() == null
                  ? NettyServerBuilder.forAddress(address)
                  : NettyServerBuilder.forAddress(address, credentials(config.tls()));
          b.executor(executor)
              // a peer that stops reading is dropped after this long without a ping answer
              .keepAliveTime(30, TimeUnit.SECONDS)
              .keepAliveTimeout(20, TimeUnit.SECONDS)
              .permitKeepAliveTime(10, TimeUnit.SECONDS)
              .permitKeepAliveWithoutCalls(true);
          ServerInterceptor auth = new KeyInterceptor(keys);
          for (BindableService s : services) b.addService(ServerInterceptors.intercept(s, auth));
          Server server = b.build().start();
          return new GrpcListener(server, executor);
        },
        false);
  }

  private static ServerCredentials credentials(GatewayConfig.ServerTls tls)
      throws java.io.IOException {
    return TlsServerCredentials.create(new File(tls.certFile()), new File(tls.keyFile()));
  }

  /** The bound port. */
  public int port() {
    return server.getPort();
  }

  /** Stops accepting, ends the calls still open after a second, on a Vert.x worker. */
  public Future<Void> close(Vertx vertx) {
    return vertx.executeBlocking(
        () -> {
          server.shutdown();
          if (!server.awaitTermination(1, TimeUnit.SECONDS)) {
            server.shutdownNow();
            server.awaitTermination(2, TimeUnit.SECONDS);
          }
          executor.shutdownNow();
          return null;
        },
        false);
  }

  /**
   * Asks for a key when one is configured: the admin service needs an admin key (when one exists,
   * else nobody may call it once any key exists), the KV-event service a key with {@code admin:
   * true} or {@code kvEvents: true} (when one exists).
   */
  static final class KeyInterceptor implements ServerInterceptor {
    static final Metadata.Key<String> AUTHORIZATION =
        Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);

    private final KeyRing keys;

    KeyInterceptor(KeyRing keys) {
      this.keys = keys;
    }

    @Override
    public <Q, R> ServerCall.Listener<Q> interceptCall(
        ServerCall<Q, R> call, Metadata headers, ServerCallHandler<Q, R> next) {
      String auth = headers.get(AUTHORIZATION);
      boolean events =
          KvEventServiceGrpc.SERVICE_NAME.equals(call.getMethodDescriptor().getServiceName());
      String refusal = null;
      if (events) {
        if (keys.hasKvEventsKey() && !keys.mayPublishKvEvents(auth)) {
          refusal = "publishing KV events needs a key with admin: true or kvEvents: true";
        }
      } else if ((keys.hasAdminKey() || keys.hasKvEventsKey()) && !keys.isAdmin(auth)) {
        refusal = "the admin API needs an admin key (a key with admin: true)";
      }
      if (refusal != null) {
        call.close(
            Status.UNAUTHENTICATED.withDescription(
                refusal + " in the call's authorization metadata (Bearer <key>)"),
            new Metadata());
        return new ServerCall.Listener<>() {};
      }
      return next.startCall(call, headers);
    }
  }
}
