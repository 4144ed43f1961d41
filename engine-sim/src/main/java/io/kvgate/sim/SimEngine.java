package io.kvgate.sim;

import io.kvgate.proto.v1.HashScheme;
import io.kvgate.proto.v1.Hello;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.VerticleBase;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpConnection;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerOptions;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicReference;

/**
 * A simulated vLLM-like inference engine serving the OpenAI API over HTTP, or https with {@link
 * SimEngineConfig#tls()}.
 *
 * <p>Endpoints: {@code POST /v1/chat/completions}, {@code POST /v1/completions} (streaming SSE and
 * non-streaming, {@code usage} with {@code prompt_tokens_details.cached_tokens}, {@code
 * stream_options.include_usage}), {@code GET /v1/models}, {@code GET /health}, {@code GET /metrics}
 * (vLLM metric names), SGLang's {@code GET /server_info} and {@code GET /get_server_info}. A {@link
 * Role#PREFILL} engine also runs an SGLang bootstrap server ({@link BootstrapServer}) on {@link
 * #bootstrapPort()}. Prompts go through {@link PromptTokenizer}; scheduling, the prefix cache and
 * timing are the {@link EngineCore}'s, driven by one chained Vert.x timer on this engine's own
 * event loop (a deployed verticle), with simulated time = wall time &times; {@code speed}.
 *
 * <p>The parts: {@link EngineRoutes} (HTTP routes), {@link CompletionRequest} (body validation),
 * {@link CompletionResponse} (SSE and JSON encoding), {@link ApiError} (error bodies), {@link
 * FaultInjector} (the {@link SimEngineConfig.Faults} knobs), {@link EngineClock} (simulated time,
 * the step timer); this class binds the server and owns the lifecycle and {@link #stats()}.
 *
 * <p><b>Processes.</b> What a real engine process holds in memory, the {@link EngineCore} with its
 * prefix cache, the {@link EngineMetrics} and the step clock, belongs to one {@link Life}. {@link
 * #restart()} simulates a process restart: the old life's requests end at once and every HTTP
 * connection is closed, as when a process dies, and a new life starts with an empty cache, counters
 * at 0, a later {@code process_start_time_seconds} and a new {@link #instanceId()}; the server
 * keeps its port. Fault state ({@link FaultInjector}) and the engine id stay the engine's.
 * Callbacks of a request hold the life it arrived in, so a late one changes nothing in the next.
 *
 * <p><b>KV events.</b> {@link #publishKvEvents} streams the prefix cache's changes to kvgate over
 * gRPC ({@link KvEventRecorder} on this engine's event loop, {@link KvEventPublisher} on a thread
 * of its own); a restart opens a new stream for the new process.
 *
 * <p>Start with {@link #start}; every method is thread-safe. {@link #close()} stops the server.
 */
public final class SimEngine {

  private final Vertx vertx;
  private final SimEngineConfig config;
  private final String engineId = UUID.randomUUID().toString();
  private final FaultInjector faults;
  private final BootstrapServer bootstrap;
  private final EngineVerticle verticle = new EngineVerticle();
  private final AtomicReference<KvEventPublisher> publisher = new AtomicReference<>();
  private volatile Life life;
  private volatile int port;
  private volatile int bootstrapPort = -1;
  private volatile boolean stopped;
  private BootstrapClient bootstrapClient;
  private volatile int running;
  private volatile int waiting;
  private volatile double usage;
  private volatile int cachedBlocks;

  private Context context;
  private HttpServer server;
  private HttpServer bootstrapHttp;
  private volatile String deploymentId;
  private KvEventRecorder recorder;
  private String kvEndpoint;
  private double lastStartSeconds;
  // open connections of the API server, to close on a restart; event loop only
  private final Set<HttpConnection> connections = new HashSet<>();

  /**
   * One engine process: its instance id, core (scheduler and prefix cache), metrics, step clock and
   * the routes bound to them.
   */
  final class Life {
    final String instanceId = UUID.randomUUID().toString();
    final EngineMetrics metrics;
    final EngineCore core;
    final EngineClock clock;
    final EngineRoutes routes;

    private Life(double startTimeSeconds) {
      metrics = new EngineMetrics(startTimeSeconds);
      core = new EngineCore(config, metrics);
      clock = new EngineClock(vertx, config.speed(), core, () -> publishGauges(core));
      routes = new EngineRoutes(SimEngine.this, this, faults);
    }
  }

  private SimEngine(Vertx vertx, SimEngineConfig config) {
    this.vertx = vertx;
    this.config = config;
    this.faults = new FaultInjector(vertx, config.faults());
    this.bootstrap = config.role() == Role.PREFILL ? new BootstrapServer(vertx) : null;
    this.life = new Life(nextStartSeconds());
  }

  /**
   * Now in Unix epoch seconds, and always later than the previous process's start (two restarts in
   * one millisecond still move {@code process_start_time_seconds} forward).
   */
  private double nextStartSeconds() {
    double now = System.currentTimeMillis() / 1000.0;
    lastStartSeconds = Math.max(now, lastStartSeconds + 0.001);
    return lastStartSeconds;
  }

  /**
   * Starts an engine on its own event loop and binds {@code config.host():config.port()} (0 =
   * ephemeral). With {@link SimEngineConfig.Faults#refuseConnections()} the port is bound and
   * released again, so the engine exists but connections to it are refused.
   */
  public static Future<SimEngine> start(Vertx vertx, SimEngineConfig config) {
    SimEngine engine = new SimEngine(vertx, config);
    return vertx
        .deployVerticle(engine.verticle)
        .map(
            id -> {
              engine.deploymentId = id;
              return engine;
            });
  }

  /** The bound port. */
  public int port() {
    return port;
  }

  /**
   * The bound port of this engine's SGLang bootstrap server ({@link
   * SimEngineConfig#bootstrapPort()} or the ephemeral port it got), or -1 if it has none (only
   * {@link Role#PREFILL} engines do).
   */
  public int bootstrapPort() {
    return bootstrapPort;
  }

  /**
   * {@code http://host:port}, or {@code https://host:port} with {@link SimEngineConfig#tls()}: the
   * base URL to configure as an upstream.
   */
  public String url() {
    return (config.tls() == null ? "http://" : "https://") + config.host() + ":" + port;
  }

  public SimEngineConfig config() {
    return config;
  }

  /** This engine's id, reported as {@code remote_engine_id} in P/D responses. */
  public String engineId() {
    return engineId;
  }

  /**
   * The current process's instance id (a fresh UUID per start and {@linkplain #restart() restart}),
   * as the KV event stream reports it.
   */
  public String instanceId() {
    return life.instanceId;
  }

  /**
   * The current process's start, Unix epoch seconds ({@code process_start_time_seconds} on {@code
   * /metrics}).
   */
  public double processStartTimeSeconds() {
    return life.metrics.startTimeSeconds;
  }

  /** A snapshot of the current process's counters; gauges are as of the last engine event. */
  public EngineStats stats() {
    EngineMetrics m = life.metrics;
    return new EngineStats(
        m.requests,
        running,
        waiting,
        m.promptTokens,
        m.prefixCacheHits,
        m.cacheHitRequests,
        m.prefixCacheQueries,
        m.prefixCacheHits,
        m.generationTokens,
        m.finishedRequests,
        m.disconnects,
        m.prefillTokensComputed,
        m.transferredTokens,
        m.bootstrapFailed,
        m.bootstrapWaiting,
        bootstrap == null ? 0 : bootstrap.rooms(),
        usage,
        cachedBlocks);
  }

  /** The bootstrap server of a prefill engine, else null. Event loop only. */
  BootstrapServer bootstrapServer() {
    return bootstrap;
  }

  /** The client a decode engine takes bootstrap rooms with, else null. Event loop only. */
  BootstrapClient bootstrapClient() {
    return bootstrapClient;
  }

  /** True once the engine is being undeployed: nothing new enters its core. */
  boolean stopped() {
    return stopped;
  }

  /**
   * Stops listening, drops open connections, stops publishing KV events and undeploys the engine.
   * Idempotent.
   */
  public Future<Void> close() {
    String id = deploymentId;
    if (id == null) return Future.succeededFuture();
    deploymentId = null;
    KvEventPublisher p = publisher.get();
    Future<Void> events = p == null ? Future.succeededFuture() : p.close();
    return Future.join(events, vertx.undeploy(id))
        .<Void>mapEmpty()
        .recover(e -> Future.succeededFuture());
  }

  /**
   * Restarts the engine process, as a crash and restart would: every request in flight is aborted
   * and every HTTP connection closed (clients see their connection drop), the prefix cache is
   * empty, counters restart at 0, {@code process_start_time_seconds} moves forward, a prefill
   * engine's bootstrap rooms are lost, and the engine has a new {@link #instanceId()}; a KV event
   * stream reconnects with a new {@code Hello} and {@code seq} from 0. The port stays bound
   * (connections arriving after the restart are served by the new process).
   *
   * @return the new instance id
   */
  public Future<String> restart() {
    Promise<String> done = Promise.promise();
    context.runOnContext(v -> done.complete(restartOnLoop(null)));
    return done.future();
  }

  /**
   * {@link #restart()} on the event loop; {@code spare} (the connection that asked, or null) is
   * left for the caller to answer and close.
   */
  String restartOnLoop(HttpConnection spare) {
    Life old = life;
    old.clock.stop();
    old.core.end();
    Life next = new Life(nextStartSeconds());
    life = next;
    next.clock.start();
    publishGauges(next.core);
    if (bootstrap != null) bootstrap.dropRooms();
    KvEventPublisher p = publisher.get();
    if (p != null && recorder != null) {
      p.start(hello(next), next.metrics);
      recorder.attach(next.core, next.metrics, next.instanceId);
    }
    for (HttpConnection c : new ArrayList<>(connections)) {
      if (c != spare) c.close();
    }
    return next.instanceId;
  }

  /**
   * Resets the prefix cache as vLLM's {@code POST /reset_prefix_cache} does: every cached block is
   * dropped and a KV event stream reports {@code AllBlocksCleared}. Refused (false, nothing
   * changes) while requests hold blocks, unless {@code resetRunningRequests}, which also drops the
   * hashes of their blocks (vLLM preempts them to recompute later; here they run on).
   *
   * @return whether the cache was reset
   */
  public Future<Boolean> resetPrefixCache(boolean resetRunningRequests) {
    Promise<Boolean> done = Promise.promise();
    context.runOnContext(v -> done.complete(resetPrefixCacheOnLoop(resetRunningRequests)));
    return done.future();
  }

  /** {@link #resetPrefixCache} on the event loop. */
  boolean resetPrefixCacheOnLoop(boolean resetRunningRequests) {
    Life l = life;
    boolean reset = l.core.pool().clearPrefixCache(resetRunningRequests);
    publishGauges(l.core);
    return reset;
  }

  /**
   * Starts streaming this engine's KV events to kvgate's {@code KvEventService} at {@code hostPort}
   * with {@link KvEventPublisher.Options#DEFAULTS}.
   *
   * @see #publishKvEvents(String, String, KvEventPublisher.Options)
   */
  public KvEventPublisher publishKvEvents(String hostPort, String endpointName) {
    return publishKvEvents(hostPort, endpointName, KvEventPublisher.Options.DEFAULTS);
  }

  /**
   * Starts streaming this engine's KV events (blocks stored and evicted, cache resets, load
   * reports, snapshots on request) to kvgate's {@code KvEventService} at {@code hostPort}, in the
   * background: the returned handle's {@link KvEventPublisher#firstAck()} completes once kvgate
   * applies them; until kvgate is reachable the publisher retries with backoff. The stream names
   * the engine {@code endpointName}, or {@link #url()} if null: the endpoint as kvgate is
   * configured with it.
   *
   * @throws IllegalArgumentException if {@code hostPort} is not {@code HOST:PORT}
   * @throws IllegalStateException if this engine already publishes (close that publisher first) or
   *     is closed
   */
  public KvEventPublisher publishKvEvents(
      String hostPort, String endpointName, KvEventPublisher.Options options) {
    KvEventPublisher.Target target = KvEventPublisher.Target.parse(hostPort);
    if (endpointName != null && endpointName.isBlank())
      throw new IllegalArgumentException("the KV event endpoint name must not be blank");
    if (deploymentId == null || stopped) throw new IllegalStateException("the engine is closed");
    KvEventPublisher p = new KvEventPublisher(target, options, "kvgate-sim-kv-events-" + port);
    if (!publisher.compareAndSet(null, p)) {
      p.close();
      throw new IllegalStateException(
          "this engine already publishes KV events to "
              + publisher.get().target()
              + "; close that publisher first");
    }
    String endpoint = endpointName == null ? url() : endpointName;
    KvEventRecorder r = new KvEventRecorder(vertx, p, config);
    p.snapshots(
        (stream, requestId) ->
            context.runOnContext(
                v -> {
                  if (recorder == r) r.snapshot(stream, requestId);
                }),
        () ->
            context.runOnContext(
                v -> {
                  r.stop();
                  if (recorder == r) recorder = null;
                  publisher.compareAndSet(p, null);
                }));
    context.runOnContext(
        v -> {
          if (publisher.get() != p) return; // closed already
          this.kvEndpoint = endpoint;
          recorder = r;
          Life l = life;
          p.start(hello(l), l.metrics);
          r.attach(l.core, l.metrics, l.instanceId);
        });
    return p;
  }

  /** The {@code Hello} of process {@code l}'s stream. */
  private Hello hello(Life l) {
    return Hello.newBuilder()
        .setEndpoint(kvEndpoint)
        .setInstanceId(l.instanceId)
        .setHashScheme(HashScheme.HASH_SCHEME_KVGATE_TEXT_XXH64)
        .setBlockSizeChars(PromptTokenizer.CHARS_PER_TOKEN * config.blockSizeTokens())
        .setBlockSizeTokens(config.blockSizeTokens())
        .setModel(config.model())
        .setEngine("kvgate-sim")
        .build();
  }

  /** Every hash in the current process's prefix cache, read on the event loop (tests). */
  Future<long[]> prefixCacheHashes() {
    Promise<long[]> done = Promise.promise();
    context.runOnContext(v -> done.complete(life.core.pool().cachedHashes()));
    return done.future();
  }

  /** The current process (event loop; routes use it). */
  Life life() {
    return life;
  }

  // ---- event loop side -------------------------------------------------------------------

  private final class EngineVerticle extends VerticleBase {
    @Override
    public Future<?> start() {
      SimEngine.this.context = context;
      life.clock.start();
      if (config.role() == Role.DECODE) bootstrapClient = new BootstrapClient(vertx);
      HttpServerOptions options = new HttpServerOptions();
      if (config.tls() != null) {
        options.setSsl(true).setKeyCertOptions(config.tls().keyCertOptions());
      }
      server =
          vertx
              .createHttpServer(options)
              .connectionHandler(
                  c -> {
                    connections.add(c);
                    c.closeHandler(x -> connections.remove(c));
                  })
              .requestHandler(req -> life.routes.handle(req));
      Future<HttpServer> listening = server.listen(config.port(), config.host());
      if (bootstrap != null) {
        // SGLang's bootstrap server is plain http on the engine's host, whatever the API serves
        bootstrapHttp = vertx.createHttpServer().requestHandler(bootstrap);
        listening =
            listening.compose(
                s ->
                    bootstrapHttp
                        .listen(config.bootstrapPort(), config.host())
                        .map(
                            b -> {
                              bootstrapPort = b.actualPort();
                              return s;
                            }));
      }
      return listening.compose(
          s -> {
            port = s.actualPort();
            return faults.onListening(s, bootstrapHttp);
          });
    }

    @Override
    public Future<?> stop() {
      stopped = true;
      life.clock.stop();
      if (recorder != null) recorder.stop();
      Future<Void> client =
          bootstrapClient == null ? Future.succeededFuture() : bootstrapClient.close();
      if (faults.dead()) return client;
      return bootstrapHttp == null
          ? Future.join(client, server.close())
          : Future.join(client, server.close(), bootstrapHttp.close());
    }
  }

  /** Publishes the core's gauges for {@link #stats()}; runs after every advance of the core. */
  private void publishGauges(EngineCore core) {
    if (core != life.core) return;
    running = core.running();
    waiting = core.waiting();
    usage = core.pool().usage();
    cachedBlocks = core.pool().cachedBlocks();
  }
}
