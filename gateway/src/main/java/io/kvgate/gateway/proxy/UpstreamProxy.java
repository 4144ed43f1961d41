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
import io.kvgate.routing.config.ConfigNode;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpClient;
import io.vertx.core.http.HttpClientRequest;
import io.vertx.core.http.HttpClientResponse;
import io.vertx.core.http.HttpHeaders;
import io.vertx.core.http.HttpServerResponse;
import io.vertx.core.http.RequestOptions;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
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
  private static final HeaderNames HOP_BY_HOP =
      new HeaderNames(
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
  private static final HeaderNames NOT_FORWARDED =
      new HeaderNames(
          "authorization",
          "cookie",
          "x-forwarded-for",
          "x-forwarded-host",
          "x-forwarded-proto",
          "forwarded",
          "x-real-ip",
          // the batch lane's per-process secret: kvgate's own, never an engine's business
          io.kvgate.gateway.batch.BatchGate.HEADER);

  /** The client's headers that do not go upstream: hop-by-hop ones and {@link #NOT_FORWARDED}. */
  private static final HeaderNames NOT_SENT_UPSTREAM = HeaderNames.union(HOP_BY_HOP, NOT_FORWARDED);

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

  /** Per event loop, the deadlines of its exchanges (total, first byte, idle). */
  private final Map<io.vertx.core.Context, Deadlines> deadlines =
      new java.util.concurrent.ConcurrentHashMap<>();

  /** The sweep period: an eighth of the shortest exchange timeout, 5 to 100 ms. */
  private long sweepMillis() {
    long shortest =
        Math.min(
            config.timeouts().firstByte().toMillis(),
            Math.min(config.timeouts().idle().toMillis(), config.timeouts().total().toMillis()));
    return Math.max(5, Math.min(100, shortest / 8));
  }

  /**
   * The deadlines of the exchanges on {@code context}'s event loop, its sweep started with the
   * first. Keyed by the context a request's own (duplicated) context wraps: one per event loop, not
   * one per request.
   */
  private Deadlines deadlines(io.vertx.core.Context context) {
    io.vertx.core.internal.ContextInternal loop =
        ((io.vertx.core.internal.ContextInternal) context).unwrap();
    Deadlines d = deadlines.get(loop);
    if (d != null) return d;
    Deadlines created = new Deadlines();
    deadlines.put(loop, created);
    long id = loop.setPeriodic(sweepMillis(), t -> created.sweep());
    sweeps.add(id);
    return created;
  }

  private final java.util.Queue<Long> sweeps = new java.util.concurrent.ConcurrentLinkedQueue<>();

  /** The event loops whose exchanges have a deadline sweep: at most one sweep per loop. */
  public int deadlineSweeps() {
    return deadlines.size();
  }

  /** Stops the deadline sweeps (the gateway is closing; no exchange is left to time). */
  public void close() {
    for (Long id : sweeps) vertx.cancelTimer(id);
  }

  /** SGLang prefill endpoints' bootstrap ports, configured or discovered. */
  private final BootstrapPorts bootstrapPorts;

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
    this.bootstrapPorts = new BootstrapPorts(client);
  }

  private volatile io.kvgate.gateway.index.IndexHealth indexHealth;

  /**
   * The index health to tell of dispatches (an engine reset earlier is rebuilt from there) and of
   * each request's predicted and engine-reported cached tokens (phantom hits reveal a reset).
   */
  public void indexHealth(io.kvgate.gateway.index.IndexHealth h) {
    this.indexHealth = h;
  }

  /** Retries the budget allows in flight now. */
  private int retriesAllowed() {
    return Math.max(
        config.limits().minRetriesInFlight(), (int) (config.limits().retryBudget() * active.get()));
  }

  /** Whether this request's index write is long enough to run on a worker. */
  private boolean longPrompt(Exchange x) {
    return x.routing().chain().length() > 0
        && (long) x.routing().chain().length() * config.routing().blockSizeChars()
            >= config.limits().offloadBodyBytes();
  }

  /** Starts the exchange; the client's response is always ended (or reset) exactly once. */
  public void forward(Exchange x) {
    new Flight(x).attempt(0, null);
  }

  /** The plan of {@code x}'s attempts, by how its model serves it. */
  private AttemptPlan planFor(Exchange x, Flight f) {
    Legs legs = new Legs(x, f);
    if (x.pd() == null
        || x.pd().decision().mode()
            != io.kvgate.routing.pd.DisaggregatedRouter.Mode.DISAGGREGATED) {
      return new WholePlan(legs);
    }
    return switch (x.route().model().pd().protocol()) {
      case VLLM -> new VllmPlan(legs);
      case SGLANG -> new SglangPlan(legs, bootstrapPorts);
    };
  }

  /**
   * What a plan needs from the proxy for one exchange: its settings, metrics and health, prefill
   * legs, whole targets, and the flight to tell when a concurrent prefill leg fails.
   */
  final class Legs {
    final Exchange x;
    private final Flight flight;

    Legs(Exchange x, Flight flight) {
      this.x = x;
      this.flight = flight;
    }

    GatewayConfig config() {
      return config;
    }

    GatewayConfig.Pd pd() {
      return x.route().model().pd();
    }

    GatewayMetrics metrics() {
      return metrics;
    }

    Vertx vertx() {
      return vertx;
    }

    String model() {
      return x.route().name();
    }

    /** Attempts of a whole exchange over {@code ranked}. */
    int wholeAttempts(Decision ranked) {
      return Math.min(config.limits().maxAttempts(), ranked.ranked().size());
    }

    /** A whole attempt on candidate {@code c}: the client's body, the prompt prefilled there. */
    AttemptPlan.Target whole(Decision.Candidate c) {
      long prompt = x.routing().promptTokens();
      return new AttemptPlan.Target(
          c,
          x.parsed().raw(),
          prompt - predictedCachedTokens(x, c),
          prompt,
          x.routing().maxTokens(),
          null);
    }

    /** A decode leg on {@code c} whose prefill ran on {@code prefill}. */
    AttemptPlan.Target decodeLeg(
        Decision.Candidate c, io.vertx.core.buffer.Buffer body, EndpointState prefill) {
      return new AttemptPlan.Target(
          c, body, 0, x.routing().promptTokens(), x.routing().maxTokens(), prefill);
    }

    /** Starts a prefill leg of this exchange on {@code c}. */
    PrefillLeg prefill(
        Decision.Candidate c, io.vertx.core.buffer.Buffer body, boolean readTransferParams) {
      return new PrefillLeg(this, c, body, readTransferParams);
    }

    /** A concurrent prefill leg of attempt {@code i} failed: the pair is tried again. */
    void prefillFailed(int i, OpenAiException error) {
      flight.sideFailed(i, error, true);
    }

    /** The engine refused attempt {@code i}'s prefill leg (4xx): the exchange fails with it. */
    void prefillRefused(int i, OpenAiException error) {
      flight.sideFailed(i, error, false);
    }

    /** Teaches the index that {@code leg} of this request goes to {@code ep}. */
    void dispatched(io.kvgate.routing.pd.DisaggregatedRouter.Leg leg, EndpointState ep) {
      io.kvgate.gateway.index.IndexHealth ih = indexHealth;
      Runnable teach =
          x.pd() == null
              ? () -> x.router().onDispatched(x.routing(), ep, System.nanoTime())
              : () -> x.pd().router().onDispatched(leg, x.routing(), ep, System.nanoTime());
      Runnable write =
          ih == null
              ? teach
              : () -> {
                teach.run();
                ih.onDispatched(ep);
              };
      boolean writes =
          x.pd() == null ? x.router().writesOnDispatch() : x.pd().router().writesOnDispatch(leg);
      if (!writes || !longPrompt(x)) {
        write.run();
        return;
      }
      vertx
          .executeBlocking(
              () -> {
                write.run();
                return null;
              },
              true)
          .onFailure(
              e -> logs.log(LOG, Level.WARNING, "index", () -> "prefix index write failed", e));
    }

    HttpClient client() {
      return client;
    }

    HealthChecker health() {
      return health;
    }

    /** Copies the client's forwardable headers onto a leg's request options. */
    void headers(RequestOptions opts) {
      forwardHeaders(x, opts);
    }

    /** One upstream failure of this exchange, counted and logged like the flight's. */
    void upstreamError(EndpointState ep, String kind, String detail) {
      flight.upstreamError(ep, kind, detail);
    }
  }

  /** Prompt tokens the prefix index expects {@code c}'s endpoint to hold for {@code x}. */
  private long predictedCachedTokens(Exchange x, Decision.Candidate c) {
    return Math.min(
        x.routing().promptTokens(), (long) c.matchedBlocks() * config.routing().blockSizeTokens());
  }

  /** Copies the client's headers that go upstream, and kvgate's own, onto {@code opts}. */
  private static void forwardHeaders(Exchange x, RequestOptions opts) {
    x.request()
        .headers()
        .forEach(
            (k, v) -> {
              if (!NOT_SENT_UPSTREAM.contains(k)) {
                opts.addHeader(k, v);
              }
            });
    opts.putHeader("x-request-id", x.requestId());
    if (x.request().remoteAddress() != null) {
      opts.putHeader("x-forwarded-for", x.request().remoteAddress().hostAddress());
    }
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

    /** Its event loop's deadlines. */
    private final Deadlines timers = deadlines(context);

    private final AttemptPlan plan;

    /** The attempt in progress (or the last one), and how the one before it failed. */
    private AttemptPlan.Target target;

    private String lastKind;
    private long sentNanos;

    /**
     * The client response's headers before an attempt's response head was copied onto it (null
     * while no attempt's head is there): an attempt abandoned after its head but before any byte
     * reached the client (a first-byte timeout, SGLang's prefill leg failing) leaves no header
     * behind for the next.
     */
    private io.vertx.core.MultiMap headersBeforeAttempt;

    /** The attempt in progress: its candidate, its lease and, once connected, its request. */
    private Decision.Candidate current;

    private EndpointState.Lease lease;
    private HttpClientRequest upstream;
    private boolean clientGone;
    private boolean finished;
    private boolean firstByte;
    private boolean paused;
    private Deadlines.Handle firstByteTimer;
    private Deadlines.Handle idleTimer;

    /** The attempt in progress; callbacks of an earlier, abandoned attempt see another index. */
    private int attemptIndex = -1;

    /** This exchange holds one of the retry budget's slots. */
    private boolean retrySlot;

    /** Attempts started, and when the first response byte was relayed (-1: not yet). */
    private int attemptsMade;

    private long firstByteNanos = -1;

    private Deadlines.Handle totalTimer;
    private long lastChunkNanos;

    Flight(Exchange x) {
      this.x = x;
      this.out = x.request().response();
      this.model = x.route().name();
      this.plan = planFor(x, this);
      this.attempts = plan.maxAttempts();
      active.incrementAndGet();
      flights.add(this);
      out.closeHandler(v -> onClientGone());
      totalTimer =
          timers.after(
              config.timeouts().total().toNanos(),
              () -> {
                totalTimer = null;
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
      attemptIndex = i;
      plan.next(i, lastKind)
          .onComplete(
              ar -> {
                if (clientGone || finished || attemptIndex != i) return;
                if (ar.failed()) {
                  if (ar.cause() instanceof AttemptPlan.Exhausted e) {
                    fail(lastError != null ? lastError : e.error, null);
                  } else {
                    fail(OpenAiErrors.of(ar.cause()), null);
                  }
                  return;
                }
                start(i, ar.result());
              });
    }

    /** Attempt {@code i}: counts its load, connects to its endpoint and sends its body. */
    private void start(int i, AttemptPlan.Target t) {
      Decision.Candidate c = t.candidate();
      EndpointState ep = c.endpoint();
      attemptsMade++;
      if (i > 0) metrics.retry(model, ep.id());
      current = c;
      target = t;
      lease = ep.acquire(t.prefillTokens(), t.contextTokens(), t.decodeTokens());
      metrics.routed(model, x.router().name(), ep.id());
      RequestOptions opts =
          x.route()
              .target(ep)
              .request(x.request().method(), x.request().uri(), config.timeouts().connect());
      forwardHeaders(x, opts);
      client
          .request(opts)
          .onComplete(
              ar -> {
                if (ar.failed()) {
                  if (clientGone || finished || attemptIndex != i) return;
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
                if (clientGone || finished || attemptIndex != i) {
                  // Nothing was written: the connection goes back unused, the index learns nothing.
                  req.exceptionHandler(err -> {});
                  req.reset();
                  return;
                }
                plan.dispatched(t);
                send(i, ep, req);
              });
    }

    /** Prompt tokens the prefix index expects {@code c}'s endpoint to hold for this request. */
    private long predictedCachedTokens(Decision.Candidate c) {
      return UpstreamProxy.this.predictedCachedTokens(x, c);
    }

    /** Writes attempt {@code i} on {@code req}, a connection to {@code ep}. */
    private void send(int i, EndpointState ep, HttpClientRequest req) {
      // Failures are handled through the send future; this only keeps resets out of the log.
      req.exceptionHandler(err -> {});
      upstream = req;
      firstByteTimer =
          timers.after(
              config.timeouts().firstByte().toNanos(),
              () -> {
                firstByteTimer = null;
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
      sentNanos = System.nanoTime();
      req.send(target.body())
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
      retry(i, kind, error, true);
    }

    /**
     * As above; {@code blame} false when the attempt's endpoint is not at fault (its concurrent
     * prefill leg failed): its health and error counts are left alone.
     */
    private void retry(int i, String kind, OpenAiException error, boolean blame) {
      EndpointState ep = current.endpoint();
      cancelTimer(firstByteTimer);
      firstByteTimer = null;
      if (blame) {
        health.recordFailure(model, ep);
        upstreamError(ep, kind, error.getMessage());
      }
      lastKind = kind;
      cancelTimer(idleTimer);
      idleTimer = null;
      if (headersBeforeAttempt != null && !out.headWritten()) {
        // The abandoned attempt's head reached no client: its headers go.
        out.headers().clear().addAll(headersBeforeAttempt);
        out.setStatusCode(200);
        out.setChunked(false);
        headersBeforeAttempt = null;
      }
      // A decode leg tried again (a failed prefill leg is counted by its plan).
      if (target != null && target.disaggregated() && blame && i + 1 < attempts) {
        metrics.pdRetry(model, "decode", kind);
      }
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

    /**
     * The prefill leg running next to attempt {@code i} (SGLang) failed: while nothing reached the
     * client, the decode attempt is abandoned (its engine would wait for KV that never comes) and
     * the request tried again; once the decode answers, it has its KV and the failure is moot.
     */
    void sideFailed(int i, OpenAiException error, boolean retriable) {
      if (finished || clientGone || attemptIndex != i || firstByte) return;
      HttpClientRequest req = upstream;
      if (retriable) retry(i, "prefill_failed", error, false);
      else fail(error, null);
      // Its exception handler, set before it was sent, keeps the reset's error out of the log.
      if (req != null) req.reset();
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
      headersBeforeAttempt = io.vertx.core.MultiMap.caseInsensitiveMultiMap().addAll(out.headers());
      out.setStatusCode(status);
      tiers.served(model, x.decision(), current);
      resp.headers()
          .forEach(
              (k, v) -> {
                if (!HOP_BY_HOP.contains(k)) out.headers().add(k, v);
              });
      String length = resp.getHeader(HttpHeaders.CONTENT_LENGTH);
      if (length != null) out.putHeader(HttpHeaders.CONTENT_LENGTH, length);
      else out.setChunked(true);
      out.putHeader("x-kvgate-endpoint", ep.id());
      if (target.disaggregated()) out.putHeader("x-kvgate-prefill-endpoint", target.prefill().id());
      if (x.router().predictsCachedPrefix() && x.routing().keyed() && !target.disaggregated()) {
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
          timers.every(
              TimeUnit.MILLISECONDS.toNanos(Math.max(10, idleMillis / 4)),
              () -> {
                if (attemptIndex == i
                    && !paused
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
            if (finished || clientGone || attemptIndex != i) return;
            lastChunkNanos = System.nanoTime();
            if (!firstByte) {
              firstByte = true;
              firstByteNanos = lastChunkNanos;
              cancelTimer(firstByteTimer);
              lease.prefillDone();
              metrics.timeToFirstByte(model, ep.id(), lastChunkNanos - x.startNanos());
              laneFirstByte(lastChunkNanos - x.startNanos());
              firstByteHook();
              if (target.disaggregated()) {
                metrics.pdDecodeFirstByte(model, ep.id(), lastChunkNanos - sentNanos);
              }
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
            if (finished || clientGone || attemptIndex != i) return;
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
            if (finished || clientGone || attemptIndex != i) return;
            if (!firstByte) {
              cancelTimer(firstByteTimer);
              long ttfb = System.nanoTime() - x.startNanos();
              metrics.timeToFirstByte(model, ep.id(), ttfb);
              laneFirstByte(ttfb);
              firstByteHook();
            }
            health.recordSuccess(model, ep);
            finish(status, new Outcome(status < 400, usage.cachedTokens()));
            out.end();
          });
    }

    private boolean firstByteHooked;

    /** Runs the exchange's first-byte hook, once. */
    private void firstByteHook() {
      if (firstByteHooked) return;
      firstByteHooked = true;
      if (x.onFirstByte() != null) x.onFirstByte().run();
    }

    /** An interactive request's first byte, by whether batch lines were in flight. */
    private void laneFirstByte(long nanos) {
      if (x.lane() == Exchange.Lane.BATCH) return;
      metrics.interactiveFirstByte(model, x.lane() == Exchange.Lane.BESIDE_BATCH, nanos);
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
      firstByteHook();
      cancelTimer(firstByteTimer);
      cancelTimer(idleTimer);
      cancelTimer(totalTimer);
      String endpoint = current == null ? "none" : current.endpoint().id();
      boolean attempted = lease != null;
      endAttempt();
      plan.close();
      active.decrementAndGet();
      flights.remove(this);
      if (retrySlot) retrying.decrementAndGet();
      if (attempted
          && outcome.success()
          && outcome.reportedCachedTokens() >= 0
          && x.router().predictsCachedPrefix()
          && !target.disaggregated()) {
        long predicted = predictedCachedTokens(current);
        metrics.prefixPrediction(model, predicted, outcome.reportedCachedTokens());
        io.kvgate.gateway.index.IndexHealth ih = indexHealth;
        if (ih != null) {
          ih.observeCachedTokens(current.endpoint(), predicted, outcome.reportedCachedTokens());
        }
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
    void upstreamError(EndpointState ep, String kind, String detail) {
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

    private void cancelTimer(Deadlines.Handle h) {
      if (h != null) h.cancel();
    }
  }

  private static String fmt(java.time.Duration d) {
    return ConfigNode.formatDuration(d);
  }
}
