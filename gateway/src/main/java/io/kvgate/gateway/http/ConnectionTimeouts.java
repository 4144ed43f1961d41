package io.kvgate.gateway.http;

import io.kvgate.gateway.config.GatewayConfig;
import io.kvgate.gateway.metrics.GatewayMetrics;
import io.kvgate.gateway.openai.OpenAiErrors;
import io.kvgate.gateway.openai.OpenAiException;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelDuplexHandler;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelPipeline;
import io.netty.channel.ChannelPromise;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.util.AttributeKey;
import io.vertx.core.Context;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpConnection;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.http.HttpServerResponse;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.logging.Logger;

/**
 * The listener's header, body and idle timeouts ({@code listener.headerTimeout}, {@code
 * bodyTimeout}, {@code idleTimeout}), shared by every server instance of one gateway.
 *
 * <p>Each HTTP/1.x connection is in one phase at a time, followed from its decoded messages (two
 * small handlers in its Netty pipeline: one sees the bytes before the HTTP decoder, one the decoded
 * requests and the encoded responses), never from the request handlers the gateway uses:
 *
 * <ul>
 *   <li><b>header</b>: from accept, or from the first byte of a further request on a kept-alive
 *       connection, until the request head is complete; bounded by {@code headerTimeout}. Beyond it
 *       a connection that sent part of a head gets 408 {@code request_timeout} in OpenAI's shape
 *       and is closed; one that sent nothing is closed.
 *   <li><b>body</b>: from the end of the head to the end of its body; bounded by {@code
 *       bodyTimeout}. Beyond it: 408 {@code request_timeout} and closed if the response has not
 *       started, else closed.
 *   <li><b>active</b>: the request is read and its response not finished. No timeout here: a
 *       non-streaming request may take minutes of generation with no byte moving on the client
 *       connection (the upstream timeouts bound it).
 *   <li><b>idle</b>: kept alive with no request in flight and no byte of a next one; bounded by
 *       {@code idleTimeout}, then closed.
 * </ul>
 *
 * Vert.x's own {@code idleTimeout} would close a connection whose response is being generated. A
 * phase change only sets the connection's deadline (no timer is scheduled or cancelled per
 * request): each event loop sweeps its own connections every {@link #sweepNanos} (an eighth of the
 * shortest timeout, 5 to 250 ms), so a timeout fires up to that much late.
 */
public final class ConnectionTimeouts {

  private static final Logger LOG = Logger.getLogger(ConnectionTimeouts.class.getName());

  /** The phases, in the order of {@code kvgate_listener_connections{phase}}. */
  public static final List<String> PHASES = List.of("header", "body", "active", "idle");

  private static final int HEADER = 0;
  private static final int BODY = 1;
  private static final int ACTIVE = 2;
  private static final int IDLE = 3;
  private static final int CLOSED = -1;

  /** After a 408 on a connection whose head never completed, how long its input is discarded. */
  static final long LINGER_MILLIS = 1000;

  private static final AttributeKey<Watch> WATCH = AttributeKey.valueOf("kvgate.timeouts");

  private final long headerNanos;
  private final long bodyNanos;
  private final long idleNanos;
  private final Duration header;
  private final Duration body;
  private final GatewayMetrics metrics;
  private final AtomicInteger[] inPhase = {
    new AtomicInteger(), new AtomicInteger(), new AtomicInteger(), new AtomicInteger()
  };
  private volatile boolean warned;

  /** How often each event loop checks its connections' deadlines. */
  private final long sweepNanos;

  private final java.util.Queue<ScheduledFuture<?>> sweeps =
      new java.util.concurrent.ConcurrentLinkedQueue<>();

  /** Per event loop, the connections it serves (touched only on that loop). */
  private final Map<io.netty.channel.EventLoop, java.util.ArrayList<Watch>> byLoop =
      new java.util.concurrent.ConcurrentHashMap<>();

  public ConnectionTimeouts(GatewayConfig.ClientConnections settings, GatewayMetrics metrics) {
    this.header = settings.headerTimeout();
    this.body = settings.bodyTimeout();
    this.headerNanos = settings.headerTimeout().toNanos();
    this.bodyNanos = settings.bodyTimeout().toNanos();
    this.idleNanos = settings.idleTimeout().toNanos();
    long shortest = Math.min(headerNanos, Math.min(bodyNanos, idleNanos));
    this.sweepNanos =
        Math.max(
            TimeUnit.MILLISECONDS.toNanos(5),
            Math.min(TimeUnit.MILLISECONDS.toNanos(250), shortest / 8));
    this.metrics = metrics;
    Map<String, Duration> timeouts = new LinkedHashMap<>();
    timeouts.put("header", settings.headerTimeout());
    timeouts.put("body", settings.bodyTimeout());
    timeouts.put("idle", settings.idleTimeout());
    metrics.bindConnectionPhases(p -> inPhase[PHASES.indexOf(p)].get(), PHASES, timeouts);
  }

  /** Starts timing a new connection; call from the server's connection handler. */
  public void onConnection(HttpConnection c) {
    if (!(c instanceof io.vertx.core.http.impl.HttpServerConnection sc)) {
      warnOnce("not an HTTP/1.x server connection: " + c.getClass().getName());
      return;
    }
    ChannelPipeline pipeline = sc.channelHandlerContext().pipeline();
    if (pipeline.get("httpDecoder") == null || pipeline.get("handler") == null) {
      warnOnce("unexpected pipeline " + pipeline.names());
      return;
    }
    Watch w = new Watch(c, Vertx.currentContext(), pipeline.channel());
    pipeline.channel().attr(WATCH).set(w);
    io.netty.channel.EventLoop loop = pipeline.channel().eventLoop();
    if (loop.inEventLoop()) watch(loop, w);
    else loop.execute(() -> watch(loop, w));
    pipeline.addBefore("httpDecoder", "kvgate-bytes", w.bytes);
    pipeline.addBefore("handler", "kvgate-messages", w.messages);
    w.enter(HEADER);
  }

  /** On {@code loop}: adds {@code w} to the loop's sweep, starting the sweep with its first. */
  private void watch(io.netty.channel.EventLoop loop, Watch w) {
    java.util.ArrayList<Watch> watches = byLoop.get(loop);
    if (watches == null) {
      java.util.ArrayList<Watch> created = new java.util.ArrayList<>();
      byLoop.put(loop, created);
      sweeps.add(
          loop.scheduleWithFixedDelay(
              () -> sweep(created), sweepNanos, sweepNanos, TimeUnit.NANOSECONDS));
      watches = created;
    }
    watches.add(w);
  }

  /** Stops the sweeps (the listener closed): its connections are closed with it. */
  public void close() {
    for (ScheduledFuture<?> f : sweeps) f.cancel(false);
  }

  /** On the loop: expires the connections past their deadline and forgets the closed ones. */
  private static void sweep(java.util.ArrayList<Watch> watches) {
    long now = System.nanoTime();
    int kept = 0;
    for (int i = 0; i < watches.size(); i++) {
      Watch w = watches.get(i);
      if (w.phase != CLOSED && now - w.deadline >= 0) w.expire(w.phase);
      if (w.phase != CLOSED) watches.set(kept++, w);
    }
    for (int i = watches.size() - 1; i >= kept; i--) watches.remove(i);
  }

  /** Connections now in {@code phase} ({@link #PHASES}). */
  public int inPhase(String phase) {
    return inPhase[PHASES.indexOf(phase)].get();
  }

  /** The 408 of a header or body timeout. */
  public static OpenAiException requestTimeout(String what, Duration limit, String key) {
    return new OpenAiException(
        408,
        "invalid_request_error",
        null,
        "request_timeout",
        "the request "
            + what
            + " did not arrive within "
            + io.kvgate.routing.config.ConfigNode.formatDuration(limit)
            + " ("
            + key
            + ")");
  }

  private void warnOnce(String why) {
    if (warned) return;
    warned = true;
    LOG.warning("listener header/body/idle timeouts are off for such connections: " + why);
  }

  /** One connection's phase and timer; touched only on its event loop. */
  private final class Watch {
    final HttpConnection connection;
    final Context context;
    final Channel channel;
    int phase = CLOSED;

    /** When the phase's timeout passes ({@link System#nanoTime}); far ahead for no timeout. */
    long deadline;

    /** Requests whose head arrived and whose response has not ended. */
    int inFlight;

    /** A head arrived whose body has not ended. */
    boolean bodyOpen;

    /** Bytes of a next head arrived (since the last complete head). */
    boolean headBytes;

    boolean servedAny;
    boolean discarding;

    final ChannelInboundHandlerAdapter bytes =
        new ChannelInboundHandlerAdapter() {
          @Override
          public void channelRead(ChannelHandlerContext ctx, Object msg) {
            if (discarding) {
              io.netty.util.ReferenceCountUtil.release(msg);
              return;
            }
            if (!bodyOpen && msg instanceof ByteBuf b && b.isReadable()) {
              headBytes = true;
              update();
            }
            ctx.fireChannelRead(msg);
          }

          @Override
          public void channelInactive(ChannelHandlerContext ctx) {
            enter(CLOSED);
            ctx.fireChannelInactive();
          }
        };

    final ChannelDuplexHandler messages =
        new ChannelDuplexHandler() {
          @Override
          public void channelRead(ChannelHandlerContext ctx, Object msg) {
            if (msg instanceof HttpRequest r) {
              headBytes = false;
              // A request without a body (no length, no chunks) is read once its head is.
              bodyOpen = hasBody(r);
              inFlight++;
            }
            if (msg instanceof LastHttpContent) bodyOpen = false;
            update();
            ctx.fireChannelRead(msg);
          }

          @Override
          public void write(ChannelHandlerContext ctx, Object msg, ChannelPromise promise) {
            if (msg instanceof LastHttpContent
                && !(msg instanceof HttpResponse r
                    && r.status().codeClass()
                        == io.netty.handler.codec.http.HttpStatusClass.INFORMATIONAL)) {
              inFlight = Math.max(0, inFlight - 1);
              servedAny = true;
              update();
            }
            ctx.write(msg, promise);
          }
        };

    Watch(HttpConnection connection, Context context, Channel channel) {
      this.connection = connection;
      this.context = context;
      this.channel = channel;
    }

    /** Moves to the phase the connection's state calls for, timing it from now if it changed. */
    void update() {
      if (phase == CLOSED) return;
      int next;
      if (bodyOpen) next = BODY;
      else if (inFlight > 0) next = ACTIVE;
      else if (headBytes || !servedAny) next = HEADER;
      else next = IDLE;
      if (next != phase) enter(next);
    }

    void enter(int next) {
      if (phase >= 0) inPhase[phase].decrementAndGet();
      if (phase == CLOSED && next == CLOSED) return;
      phase = next;
      if (next == CLOSED) return;
      inPhase[next].incrementAndGet();
      long nanos =
          switch (next) {
            case HEADER -> headerNanos;
            case BODY -> bodyNanos;
            case IDLE -> idleNanos;
            default -> 0;
          };
      deadline = System.nanoTime() + (nanos > 0 ? nanos : Long.MAX_VALUE / 2);
    }

    void expire(int timed) {
      if (phase != timed) return;
      switch (timed) {
        case HEADER -> {
          metrics.listenerTimeout("header");
          if (headBytes) answerWithoutRequest();
          else channel.close();
        }
        case BODY -> {
          metrics.listenerTimeout("body");
          if (context == null) channel.close();
          else context.runOnContext(v -> answerBody());
        }
        case IDLE -> {
          metrics.listenerTimeout("idle");
          channel.close();
        }
        default -> {}
      }
      enter(CLOSED);
    }

    /**
     * A head never completed: no request exists for Vert.x to answer, so the 408 is written here,
     * then the connection is half-closed and its input discarded for a moment (so that the client
     * reads the answer rather than a reset), then closed.
     */
    void answerWithoutRequest() {
      ChannelHandlerContext ctx = channel.pipeline().context("kvgate-messages");
      if (ctx == null) {
        channel.close();
        return;
      }
      byte[] json =
          OpenAiErrors.body(requestTimeout("head", header, "listener.headerTimeout")).getBytes();
      FullHttpResponse r =
          new DefaultFullHttpResponse(
              HttpVersion.HTTP_1_1,
              HttpResponseStatus.REQUEST_TIMEOUT,
              Unpooled.wrappedBuffer(json));
      r.headers()
          .set(HttpHeaderNames.CONTENT_TYPE, "application/json")
          .set(HttpHeaderNames.CONTENT_LENGTH, json.length)
          .set(HttpHeaderNames.CONNECTION, "close");
      discarding = true;
      ctx.writeAndFlush(r)
          .addListener(
              (ChannelFutureListener)
                  f -> {
                    if (f.channel() instanceof io.netty.channel.socket.DuplexChannel d
                        && channel.pipeline().get(io.netty.handler.ssl.SslHandler.class) == null) {
                      d.shutdownOutput();
                    }
                    channel
                        .eventLoop()
                        .schedule(
                            () -> {
                              channel.close();
                            },
                            LINGER_MILLIS,
                            TimeUnit.MILLISECONDS);
                  });
    }

    /** The body did not arrive in time: 408 through Vert.x if the response has not started. */
    void answerBody() {
      HttpServerRequest req = current;
      if (req == null || req.response().headWritten() || req.response().closed()) {
        connection.close();
        return;
      }
      HttpServerResponse resp = req.response();
      resp.setStatusCode(408)
          .putHeader("content-type", "application/json")
          .putHeader("connection", "close");
      resp.end(OpenAiErrors.body(requestTimeout("body", body, "listener.bodyTimeout")))
          .onComplete(ar -> BodyReader.closeLingering(context.owner(), req));
    }

    /** The request Vert.x handed to the gateway for the head last read. */
    HttpServerRequest current;
  }

  /**
   * Whether a body follows this head: chunked, or a positive Content-Length. A head the decoder
   * refused has none to wait for (it is answered 400 and closed).
   */
  static boolean hasBody(HttpRequest r) {
    if (!r.decoderResult().isSuccess()) return false;
    if (io.netty.handler.codec.http.HttpUtil.isTransferEncodingChunked(r)) return true;
    try {
      return io.netty.handler.codec.http.HttpUtil.getContentLength(r, 0L) > 0;
    } catch (NumberFormatException e) {
      return false;
    }
  }

  /** Tells the connection's timer which request object its current head became. */
  public void onRequest(HttpServerRequest req) {
    if (!(req.connection() instanceof io.vertx.core.http.impl.HttpServerConnection sc)) return;
    Watch w = sc.channelHandlerContext().channel().attr(WATCH).get();
    if (w != null) w.current = req;
  }
}
