package io.kvgate.gateway.proxy;

import io.kvgate.gateway.config.GatewayConfig;
import io.kvgate.gateway.health.HealthChecker;
import io.kvgate.gateway.log.AccessLog;
import io.kvgate.gateway.log.LogLimiter;
import io.kvgate.gateway.metrics.GatewayMetrics;
import io.kvgate.gateway.metrics.TierMetrics;
import io.kvgate.gateway.openai.OpenAiErrors;
import io.kvgate.gateway.openai.OpenAiException;
import io.kvgate.routing.Decision;
import io.kvgate.routing.EndpointState;
import io.kvgate.routing.Router;
import io.kvgate.routing.RoutingRequest;
import io.kvgate.routing.config.ConfigNode;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpClient;
import io.vertx.core.http.HttpClientRequest;
import io.vertx.core.http.HttpClientResponse;
import io.vertx.core.http.HttpHeaders;
import io.vertx.core.http.HttpServerResponse;
import io.vertx.core.http.RequestOptions;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * Sends an {@link Exchange} to its ranked endpoints and relays the answer.
 *
 * <ul>
 *   <li>The client's bytes are forwarded as received; the response is relayed chunk by chunk as it
 *       arrives, never re-framed. When the client's write queue is full the upstream response is
 *       paused and resumed on drain, so a slow reader costs a bounded buffer, not a whole stream.
 *   <li>Load is counted at dispatch ({@link EndpointState#acquire}) in the tokens the endpoint is
 *       predicted to prefill, the prefill share released at the first response byte, the rest when
 *       the attempt ends. Each attempt's lease is released in one place ({@code endAttempt}), and
 *       each exchange's outcome (status, metrics, prediction check) is recorded in one place
 *       ({@code finish}), exactly once, whatever the path.
 *   <li>The prefix index learns where a prompt went ({@link Router#onDispatched}) once a connection
 *       to the endpoint is held and the request is about to be written: an attempt whose connection
 *       is refused teaches it nothing, so a dead endpoint is never believed to hold the prompt. The
 *       load, by contrast, counts from the decision on, so concurrent decisions see it at once.
 *   <li>An attempt that fails before any response byte (connection refused or reset, a 5xx status,
 *       a first-byte timeout, whose request is reset so the engine aborts it) is retried on the
 *       next-ranked endpoint (under a tiered policy the ranking continues into the next tiers, so a
 *       retry crosses tiers once its own has no other candidate), up to {@code limits.maxAttempts},
 *       after a jittered exponential backoff and within a retry budget (retries in flight at most
 *       {@code limits.retryBudget} of the exchanges in flight, or {@code
 *       limits.minRetriesInFlight}; a retry after a connection that could not be made, which
 *       carried no request, spends none). After the first byte nothing is retried; a stream ends
 *       with an OpenAI-shaped SSE error event.
 *   <li>A client that goes away cancels the upstream request at once (its connection is reset,
 *       which is how vLLM and SGLang notice an abort).
 * </ul>
 */
public final class UpstreamProxy {

  private static final Logger LOG = Logger.getLogger(UpstreamProxy.class.getName());
  private static final Set<String> HOP_BY_HOP =
      Set.of(
          "connection",
          "keep-alive",
          "proxy-authenticate",
          "proxy-authorization",
          "te",
          "trailer",
          "transfer-encoding",
          "upgrade",
          "host",
          "content-length");

  /**
   * Client headers never forwarded upstream: the client's credentials and cookies (an engine's key
   * comes from the endpoint's {@code apiKey}), and forwarding headers a client could spoof (kvgate
   * sets {@code X-Forwarded-For} itself).
   */
  private static final Set<String> NOT_FORWARDED =
      Set.of(
          "authorization",
          "cookie",
          "x-forwarded-for",
          "x-forwarded-host",
          "x-forwarded-proto",
          "forwarded",
          "x-real-ip");

  private final Vertx vertx;
  private final HttpClient client;
  private final GatewayConfig config;
  private final GatewayMetrics metrics;
  private final HealthChecker health;
  private final LogLimiter logs;
  private final AccessLog accessLog;
  private final TierMetrics tiers;

  /** Exchanges in flight and, of those, exchanges in a retry attempt (the retry budget's terms). */
  private final AtomicInteger active = new AtomicInteger();

  private final AtomicInteger retrying = new AtomicInteger();

  /** The exchanges in flight, for a shutdown that ends those still running at its deadline. */
  private final Set<Flight> flights = java.util.concurrent.ConcurrentHashMap.newKeySet();

  public UpstreamProxy(
      Vertx vertx,
      HttpClient client,
      GatewayConfig config,
      GatewayMetrics metrics,
      HealthChecker health) {
    this(
        vertx,
        client,
        config,
        metrics,
        health,
        LogLimiter.defaults(metrics::logSuppressed),
        new AccessLog(config.logging().accessLog(), metrics));
  }

  /**
   * Upstream failures log through {@code logs} (category {@code upstream}); every exchange's end is
   * offered to {@code accessLog}.
   */
  public UpstreamProxy(
      Vertx vertx,
      HttpClient client,
      GatewayConfig config,
      GatewayMetrics metrics,
      HealthChecker health,
      LogLimiter logs,
      AccessLog accessLog) {
    this.vertx = vertx;
    this.client = client;
    this.config = config;
    this.metrics = metrics;
    this.health = health;
    this.logs = logs;
    this.accessLog = accessLog;
    metrics.bindRetryBudget(retrying::get, this::retriesAllowed);
    this.tiers = new TierMetrics(metrics.registry());
  }

  /** Retries the budget allows in flight now. */
  private int retriesAllowed() {
    return Math.max(
        config.limits().minRetriesInFlight(), (int) (config.limits().retryBudget() * active.get()));
  }

  /**
   * Whether this request's index write is long enough to run on a worker (see {@code
   * Flight.attempt}).
   */
  private boolean recordOffLoop(Exchange x) {
    return x.routing().chain().length() > 0
        && x.router().writesOnDispatch()
        && (long) x.routing().chain().length() * config.routing().blockSizeChars()
            >= config.limits().offloadBodyBytes();
  }

  /** Starts the exchange; the client's response is always ended (or reset) exactly once. */
  public void forward(Exchange x) {
    new Flight(x).attempt(0, null);
  }

  /** Exchanges in flight now. */
  public int inFlight() {
    return active.get();
  }

  /**
   * Ends every exchange still in flight with {@code error}: a response not yet started gets it in
   * OpenAI's shape, a stream gets it as its last SSE event; each upstream request is reset so the
   * engine stops generating. Each exchange is ended on its own event loop.
   */
  public void endAll(OpenAiException error) {
    for (Flight f : flights) {
      f.context.runOnContext(
          v -> {
            if (f.finished) return;
            metrics.drainRefused("cut");
            HttpClientRequest req = f.upstream;
            f.fail(error, null);
            if (req != null) req.reset();
          });
    }
  }

  /** How an exchange ended, as far as the gateway could see. */
  private record Outcome(boolean success, long reportedCachedTokens) {
    static final Outcome FAILED = new Outcome(false, -1);
  }

  /** The mutable state of one exchange, confined to its event loop. */
  private final class Flight {
    private final Exchange x;
    private final HttpServerResponse out;
    private final String model;
    private final int attempts;
    private final UsageScanner usage = new UsageScanner();
    private final io.vertx.core.Context context = vertx.getOrCreateContext();

    /** The attempt in progress: its candidate, its lease and, once connected, its request. */
    private Decision.Candidate current;

    private EndpointState.Lease lease;
    private HttpClientRequest upstream;
    private boolean clientGone;
    private boolean finished;
    private boolean firstByte;
    private boolean paused;
    private long firstByteTimer = -1;
    private long idleTimer = -1;

    /** The attempt in progress; callbacks of an earlier, abandoned attempt see another index. */
    private int attemptIndex = -1;

    /** This exchange holds one of the retry budget's slots. */
    private boolean retrySlot;

    /** Attempts started, and when the first response byte was relayed (-1: not yet). */
    private int attemptsMade;

    private long firstByteNanos = -1;

    private long totalTimer;
    private long lastChunkNanos;

    Flight(Exchange x) {
      this.x = x;
      this.out = x.request().response();
      this.model = x.route().name();
      this.attempts = Math.min(config.limits().maxAttempts(), x.decision().ranked().size());
      active.incrementAndGet();
      flights.add(this);
      out.closeHandler(v -> onClientGone());
      totalTimer =
          vertx.setTimer(
              config.timeouts().total().toMillis(),
              t -> {
                totalTimer = -1;
                abortUpstream();
                fail(
                    new OpenAiException(
                        504,
                        "server_error",
                        null,
                        "upstream_timeout",
                        "upstream did not finish within " + fmt(config.timeouts().total())),
                    "total_timeout");
              });
    }

    void attempt(int i, OpenAiException lastError) {
      if (clientGone || finished) return;
      if (i >= attempts) {
        fail(
            lastError != null
                ? lastError
                : OpenAiException.upstream(
                    503, "no_healthy_endpoint", "no healthy endpoint for model '" + model + "'"),
            null);
        return;
      }
      Decision.Candidate c = x.decision().ranked().get(i);
      EndpointState ep = c.endpoint();
      attemptIndex = i;
      attemptsMade++;
      if (i > 0) metrics.retry(model, ep.id());
      current = c;
      lease =
          ep.acquire(
              x.routing().promptTokens() - predictedCachedTokens(c), x.routing().promptTokens());
      metrics.routed(model, x.router().name(), ep.id());
      RequestOptions opts =
          x.route()
              .target(ep)
              .request(x.request().method(), x.request().uri(), config.timeouts().connect());
      x.request()
          .headers()
          .forEach(
              (k, v) -> {
                String name = k.toLowerCase(Locale.ROOT);
                if (!HOP_BY_HOP.contains(name) && !NOT_FORWARDED.contains(name)) {
                  opts.addHeader(k, v);
                }
              });
      opts.putHeader("x-request-id", x.requestId());
      if (x.request().remoteAddress() != null) {
        opts.putHeader("x-forwarded-for", x.request().remoteAddress().hostAddress());
      }
      client
          .request(opts)
          .onComplete(
              ar -> {
                if (ar.failed()) {
                  retry(
                      i,
                      "connect",
                      OpenAiException.upstream(
                          502,
                          "upstream_unavailable",
                          "endpoint "
                              + ep.id()
                              + " could not be reached: "
                              + ar.cause().getMessage()));
                  return;
                }
                HttpClientRequest req = ar.result();
                if (clientGone || finished) {
                  // Nothing was written: the connection goes back unused, the index learns nothing.
                  req.exceptionHandler(err -> {});
                  req.reset();
                  return;
                }
                recordDispatch(ep);
                send(i, ep, req);
              });
    }

    /**
     * Teaches the policy where the prompt goes. A long prompt's index write (thousands of blocks
     * inserted, as many evicted: milliseconds for a new 128k-token prompt) runs on a worker, in
     * order with this loop's other long writes, so that it does not hold up the loop's other
     * connections; the request is written meanwhile, since its prefill takes far longer than the
     * write.
     */
    private void recordDispatch(EndpointState ep) {
      Router router = x.router();
      RoutingRequest routing = x.routing();
      if (!recordOffLoop(x)) {
        router.onDispatched(routing, ep, System.nanoTime());
        return;
      }
      vertx
          .executeBlocking(
              () -> {
                router.onDispatched(routing, ep, System.nanoTime());
                return null;
              },
              true)
          .onFailure(
              e -> logs.log(LOG, Level.WARNING, "index", () -> "prefix index write failed", e));
    }

    /** Prompt tokens the prefix index expects {@code c}'s endpoint to hold for this request. */
    private long predictedCachedTokens(Decision.Candidate c) {
      return Math.min(
          x.routing().promptTokens(),
          (long) c.matchedBlocks() * config.routing().blockSizeTokens());
    }

    /** Writes attempt {@code i} on {@code req}, a connection to {@code ep}. */
    private void send(int i, EndpointState ep, HttpClientRequest req) {
      // Failures are handled through the send future; this only keeps resets out of the log.
      req.exceptionHandler(err -> {});
      upstream = req;
      firstByteTimer =
          vertx.setTimer(
              config.timeouts().firstByte().toMillis(),
              t -> {
                firstByteTimer = -1;
                if (firstByte || finished || attemptIndex != i) return;
                OpenAiException timeout =
                    new OpenAiException(
                        504,
                        "server_error",
                        null,
                        "upstream_timeout",
                        "endpoint "
                            + ep.id()
                            + " sent no response within "
                            + fmt(config.timeouts().firstByte()));
                if (i + 1 < attempts) {
                  // Nothing reached the client yet: another endpoint may answer in time.
                  retry(i, "first_byte_timeout", timeout);
                  req.reset();
                  return;
                }
                health.recordFailure(model, ep);
                upstreamError(ep, "first_byte_timeout", timeout.getMessage());
                // Fail first: the reset below completes the send future, which must see the
                // exchange finished.
                fail(timeout, null);
                req.reset();
              });
      req.send(x.parsed().raw())
          .onComplete(
              r -> {
                if (finished || clientGone || attemptIndex != i) {
                  if (r.succeeded()) r.result().request().reset();
                  return;
                }
                if (r.failed()) {
                  retry(
                      i,
                      "reset",
                      OpenAiException.upstream(
                          502,
                          "upstream_failed",
                          "endpoint "
                              + ep.id()
                              + " failed before responding: "
                              + r.cause().getMessage()));
                  return;
                }
                onResponse(i, ep, r.result());
              });
    }

    /**
     * Attempt {@code i} failed before any response byte: it counts against its endpoint's health,
     * its lease is released, and the next-ranked endpoint is tried (or the exchange fails with
     * {@code error} when none is left).
     */
    private void retry(int i, String kind, OpenAiException error) {
      EndpointState ep = current.endpoint();
      cancelTimer(firstByteTimer);
      firstByteTimer = -1;
      health.recordFailure(model, ep);
      upstreamError(ep, kind, error.getMessage());
      endAttempt();
      attemptIndex = -1;
      if (i + 1 >= attempts) {
        attempt(i + 1, error);
        return;
      }
      // A connection that could not be made carried no request: retrying it elsewhere duplicates
      // no work, so it spends no budget (unless retries are off altogether). A whole tier going
      // down thus fails over at once instead of answering 502 to what the budget cannot cover.
      boolean free =
          "connect".equals(kind)
              && (config.limits().retryBudget() > 0 || config.limits().minRetriesInFlight() > 0);
      if (!retrySlot && !free) {
        if (retrying.incrementAndGet() > retriesAllowed()) {
          retrying.decrementAndGet();
          metrics.retryBudgetExhausted(model);
          fail(error, null);
          return;
        }
        retrySlot = true;
      }
      // Jittered exponential backoff: base × 2^i × [0.5, 1.5).
      long base = config.limits().retryBackoff().toMillis() << Math.min(i, 10);
      long delay = Math.max(1, (long) (base * (0.5 + ThreadLocalRandom.current().nextDouble())));
      vertx.setTimer(delay, t -> attempt(i + 1, error));
    }

    /** Releases the current attempt's lease and forgets its connection: the one place. */
    private void endAttempt() {
      if (lease != null) lease.release();
      lease = null;
      upstream = null;
    }

    private void onResponse(int i, EndpointState ep, HttpClientResponse resp) {
      int status = resp.statusCode();
      if (status >= 500 && i + 1 < attempts) {
        // The reset is ours: its exception is expected, and counted as this attempt's failure.
        resp.exceptionHandler(err -> {});
        resp.request().reset();
        retry(
            i,
            "status_" + status,
            OpenAiException.upstream(
                502, "upstream_failed", "endpoint " + ep.id() + " answered " + status));
        return;
      }
      if (status >= 500) {
        // The last attempt: report it in OpenAI's shape, with the engine's words.
        cancelTimer(firstByteTimer);
        health.recordFailure(model, ep);
        upstreamError(ep, "status_" + status, "endpoint " + ep.id() + " answered " + status);
        resp.body()
            .onComplete(
                b -> {
                  String detail = b.succeeded() ? b.result().toString() : "";
                  if (detail.length() > 500) detail = detail.substring(0, 500) + "...";
                  fail(
                      OpenAiException.upstream(
                          502,
                          "upstream_failed",
                          "endpoint "
                              + ep.id()
                              + " answered "
                              + status
                              + (detail.isEmpty() ? "" : ": " + detail)),
                      null);
                });
        return;
      }
      out.setStatusCode(status);
      tiers.served(model, x.decision(), current);
      resp.headers()
          .forEach(
              (k, v) -> {
                if (!HOP_BY_HOP.contains(k.toLowerCase(Locale.ROOT))) out.headers().add(k, v);
              });
      String length = resp.getHeader(HttpHeaders.CONTENT_LENGTH);
      if (length != null) out.putHeader(HttpHeaders.CONTENT_LENGTH, length);
      else out.setChunked(true);
      out.putHeader("x-kvgate-endpoint", ep.id());
      if (x.router().predictsCachedPrefix() && x.routing().keyed()) {
        // What the index expected this endpoint to hold, next to the engine's usage.cached_tokens.
        out.putHeader(
            "x-kvgate-predicted-cached-tokens", Long.toString(predictedCachedTokens(current)));
      }
      out.putHeader("x-request-id", x.requestId());
      boolean sse =
          String.valueOf(resp.getHeader(HttpHeaders.CONTENT_TYPE)).startsWith("text/event-stream");
      lastChunkNanos = System.nanoTime();
      long idleMillis = config.timeouts().idle().toMillis();
      idleTimer =
          vertx.setPeriodic(
              Math.max(10, idleMillis / 4),
              t -> {
                if (!paused
                    && firstByte
                    && System.nanoTime() - lastChunkNanos > idleMillis * 1_000_000L) {
                  upstreamError(
                      ep, "idle_timeout", "endpoint " + ep.id() + " went silent mid-response");
                  health.recordFailure(model, ep);
                  failAfterFirstByte(
                      sse,
                      new OpenAiException(
                          504,
                          "server_error",
                          null,
                          "upstream_timeout",
                          "endpoint "
                              + ep.id()
                              + " sent nothing for "
                              + fmt(config.timeouts().idle())));
                  resp.exceptionHandler(err -> {});
                  resp.request().reset();
                }
              });
      resp.handler(
          chunk -> {
            if (finished || clientGone) return;
            lastChunkNanos = System.nanoTime();
            if (!firstByte) {
              firstByte = true;
              firstByteNanos = lastChunkNanos;
              cancelTimer(firstByteTimer);
              lease.prefillDone();
              metrics.timeToFirstByte(model, ep.id(), lastChunkNanos - x.startNanos());
            }
            usage.feed(chunk);
            out.write(chunk);
            if (out.writeQueueFull()) {
              paused = true;
              resp.pause();
              out.drainHandler(
                  v -> {
                    paused = false;
                    resp.resume();
                  });
            }
          });
      resp.exceptionHandler(
          err -> {
            if (finished || clientGone) return;
            upstreamError(
                ep,
                "reset_mid_response",
                "endpoint " + ep.id() + " failed mid-response: " + err.getMessage());
            health.recordFailure(model, ep);
            failAfterFirstByte(
                sse,
                OpenAiException.upstream(
                    502,
                    "upstream_failed",
                    "endpoint " + ep.id() + " failed mid-response: " + err.getMessage()));
          });
      resp.endHandler(
          v -> {
            if (finished || clientGone) return;
            if (!firstByte) {
              cancelTimer(firstByteTimer);
              metrics.timeToFirstByte(model, ep.id(), System.nanoTime() - x.startNanos());
            }
            health.recordSuccess(model, ep);
            finish(status, new Outcome(status < 400, usage.cachedTokens()));
            out.end();
          });
    }

    private void failAfterFirstByte(boolean sse, OpenAiException e) {
      if (finished) return;
      if (sse && !out.ended() && !out.closed()) {
        out.end(OpenAiErrors.sseEvent(e));
      } else if (!out.ended() && !out.closed()) {
        out.reset();
      }
      finish(e.status(), Outcome.FAILED);
    }

    private void onClientGone() {
      if (finished || out.ended()) return;
      clientGone = true;
      metrics.clientDisconnect(model, current == null ? "none" : current.endpoint().id());
      // Release the load before resetting the upstream: whoever sees the reset (the engine, a
      // test) then also sees the endpoint's load already released.
      HttpClientRequest req = upstream;
      finish(499, Outcome.FAILED);
      if (req != null) req.reset();
    }

    private void abortUpstream() {
      if (upstream != null) upstream.reset();
    }

    /** Fails the exchange: an OpenAI-shaped error response, or an error event after the head. */
    private void fail(OpenAiException e, String kind) {
      if (finished) return;
      if (kind != null && current != null) {
        upstreamError(current.endpoint(), kind, e.getMessage());
      }
      if (out.headWritten()) {
        // A stream ends with an error event; a JSON body already under way cannot take one (its
        // length is the engine's), so its connection is reset.
        failAfterFirstByte(
            String.valueOf(out.headers().get(HttpHeaders.CONTENT_TYPE))
                .startsWith("text/event-stream"),
            e);
        return;
      }
      OpenAiErrors.send(out, e);
      finish(e.status(), Outcome.FAILED);
    }

    /**
     * Records how the exchange ended: the one outcome recorder, run exactly once per exchange on
     * every path (success, every failure, the client leaving). Releases the last attempt's lease,
     * stops the timers, counts the request and, on success, checks the index's prediction against
     * the engine's reported cached tokens.
     */
    private void finish(int status, Outcome outcome) {
      if (finished) return;
      finished = true;
      cancelTimer(firstByteTimer);
      cancelTimer(idleTimer);
      cancelTimer(totalTimer);
      String endpoint = current == null ? "none" : current.endpoint().id();
      boolean attempted = lease != null;
      endAttempt();
      active.decrementAndGet();
      flights.remove(this);
      if (retrySlot) retrying.decrementAndGet();
      if (attempted
          && outcome.success()
          && outcome.reportedCachedTokens() >= 0
          && x.router().predictsCachedPrefix()) {
        metrics.prefixPrediction(
            model, predictedCachedTokens(current), outcome.reportedCachedTokens());
      }
      long now = System.nanoTime();
      metrics.request(model, endpoint, status, now - x.startNanos());
      x.onEnd().ended(usage.promptTokens(), usage.completionTokens());
      if (accessLog.sampled(status)) {
        String path = x.request().path();
        accessLog.log(
            new AccessLog.Entry(
                x.requestId(),
                model,
                path,
                endpoint,
                status,
                attemptsMade,
                now - x.startNanos(),
                firstByteNanos < 0 ? -1 : firstByteNanos - x.startNanos(),
                usage.promptTokens(),
                usage.reportedCompletionTokens()));
      }
    }

    /**
     * One upstream failure: counted by kind, and logged within the log rate limit (category {@code
     * upstream}).
     */
    private void upstreamError(EndpointState ep, String kind, String detail) {
      metrics.upstreamError(model, ep.id(), kind);
      logs.log(
          LOG,
          Level.WARNING,
          "upstream",
          () ->
              "model '"
                  + model
                  + "', request "
                  + x.requestId()
                  + ": "
                  + kind
                  + (detail == null ? "" : " (" + detail + ")"));
    }

    private void cancelTimer(long id) {
      if (id >= 0) vertx.cancelTimer(id);
    }
  }

  private static String fmt(java.time.Duration d) {
    return ConfigNode.formatDuration(d);
  }
}
