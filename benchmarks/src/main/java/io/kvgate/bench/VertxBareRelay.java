package io.kvgate.bench;

import io.vertx.core.DeploymentOptions;
import io.vertx.core.Future;
import io.vertx.core.MultiMap;
import io.vertx.core.VerticleBase;
import io.vertx.core.Vertx;
import io.vertx.core.VertxOptions;
import io.vertx.core.http.HttpClient;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpHeaders;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.http.HttpServerResponse;
import io.vertx.core.http.PoolOptions;
import io.vertx.core.http.RequestOptions;
import java.util.Set;

/**
 * {@link BareRelay}'s twin on Vert.x's HTTP server and client, the layer kvgate is built on, for
 * {@code bench/overhead.sh --bare}: each request read whole, sent upstream over Vert.x's pooled
 * keep-alive client, the response piped back as it arrives; no parsing, no routing. Against the
 * plain Netty relay it measures what Vert.x's HTTP layer costs; against kvgate, what kvgate's own
 * work costs on top of it.
 *
 * <p>Configured like kvgate's listener and client: native transport, one server per event loop on
 * the shared port, TCP_NODELAY. Hop-by-hop headers are not copied.
 *
 * <p>Usage: {@code java -cp benchmarks.jar io.kvgate.bench.VertxBareRelay LISTEN_PORT UPSTREAM_PORT
 * [EVENT_LOOPS]} (host 127.0.0.1 both sides; by default one event loop per available processor).
 */
public final class VertxBareRelay {

  private static final Set<CharSequence> HOP_BY_HOP =
      Set.of("connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "host");

  private VertxBareRelay() {}

  public static void main(String[] args) {
    if (args.length < 2) {
      System.err.println("usage: VertxBareRelay LISTEN_PORT UPSTREAM_PORT [EVENT_LOOPS]");
      System.exit(2);
    }
    int listen = Integer.parseInt(args[0]);
    int upstream = Integer.parseInt(args[1]);
    int loops =
        args.length > 2 ? Integer.parseInt(args[2]) : Runtime.getRuntime().availableProcessors();
    Vertx vertx =
        Vertx.vertx(new VertxOptions().setPreferNativeTransport(true).setEventLoopPoolSize(loops));
    deploy(vertx, listen, upstream, loops)
        .onSuccess(
            id ->
                System.out.println(
                    "vert.x bare relay on 127.0.0.1:"
                        + listen
                        + " -> 127.0.0.1:"
                        + upstream
                        + ", "
                        + loops
                        + " event loop(s), native transport "
                        + vertx.isNativeTransportEnabled()))
        .onFailure(
            t -> {
              t.printStackTrace();
              System.exit(1);
            });
  }

  /**
   * Deploys the relay on {@code vertx}: {@code instances} servers sharing 127.0.0.1:{@code listen}.
   */
  static Future<String> deploy(Vertx vertx, int listen, int upstream, int instances) {
    return vertx.deployVerticle(
        () -> new Relay(listen, upstream), new DeploymentOptions().setInstances(instances));
  }

  private static final class Relay extends VerticleBase {
    private final int listen;
    private final int upstream;
    private HttpClient client;

    Relay(int listen, int upstream) {
      this.listen = listen;
      this.upstream = upstream;
    }

    @Override
    public Future<?> start() {
      client =
          vertx.createHttpClient(
              new HttpClientOptions().setKeepAlive(true).setTcpNoDelay(true),
              new PoolOptions().setHttp1MaxSize(256));
      return vertx
          .createHttpServer(new HttpServerOptions().setTcpNoDelay(true))
          .requestHandler(this::relay)
          .listen(listen, "127.0.0.1");
    }

    private void relay(HttpServerRequest req) {
      HttpServerResponse out = req.response();
      req.body()
          .compose(
              body ->
                  client
                      .request(
                          new RequestOptions()
                              .setMethod(req.method())
                              .setHost("127.0.0.1")
                              .setPort(upstream)
                              .setURI(req.uri()))
                      .compose(
                          up -> {
                            copy(req.headers(), up.headers());
                            return up.send(body);
                          }))
          .onSuccess(
              res -> {
                out.setStatusCode(res.statusCode());
                copy(res.headers(), out.headers());
                if (!out.headers().contains(HttpHeaders.CONTENT_LENGTH)) out.setChunked(true);
                res.pipeTo(out);
              })
          .onFailure(
              t -> {
                if (out.headWritten()) out.reset();
                else out.setStatusCode(502).end("upstream failed\n");
              });
    }

    private static void copy(MultiMap from, MultiMap to) {
      from.forEach(
          e -> {
            if (!HOP_BY_HOP.contains(e.getKey().toLowerCase(java.util.Locale.ROOT))) {
              to.add(e.getKey(), e.getValue());
            }
          });
    }
  }
}
