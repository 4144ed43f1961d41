package io.kvgate.replay;

import io.kvgate.sim.EngineStats;
import io.kvgate.sim.KvEventPublisher;
import io.kvgate.sim.SimEngine;
import io.kvgate.sim.SimEngineConfig;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpClient;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.PoolOptions;
import io.vertx.core.http.RequestOptions;
import io.vertx.core.json.JsonObject;
import java.io.PrintStream;
import java.net.URI;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Replays a trace open-loop through a real gateway in front of a fresh simulated fleet, once per
 * cell (fleet layout × policy × index mode × {@code pd.minUncachedTokens} on disaggregated layouts
 * × gateways), and measures what the engines and the clients saw: TTFT, the gaps between streamed
 * tokens (ITL), end-to-end latency, hit rate, throughput. Blocking: run it from a main or test
 * thread, never an event loop (the load itself runs on Vert.x).
 *
 * <p><b>Index modes, direct traffic, restarts.</b> In a {@code precise} cell every engine publishes
 * its KV events to the gateway's event listener, and traffic starts once the gateway has applied
 * each engine's first batch. A seeded share of requests can bypass the gateway ({@link
 * ReplayOptions#directShare()}), and engine 0 can be restarted mid-cell ({@link
 * ReplayOptions#restartEngineAt()}): the two ways an approximate index drifts from the caches. The
 * engines' counters start over at a restart; the replay accumulates them across it ({@link
 * EngineCounters}), so hit rates stay those of the whole cell.
 *
 * <p><b>Several gateways.</b> A cell of {@code N} or {@code Nc} gateways ({@link
 * ReplayOptions#gateways()}) runs N gateways over its engines, independent or in one cluster, and
 * sends request {@code i} to gateway {@code i mod N}: consecutive turns of a conversation land on
 * different gateways. A clustered cell also reports how fast the gateways' index writes reached
 * their peers and the bytes they published ({@link PolicyResult.Cluster}).
 *
 * <p>Open loop: each request is sent at its timestamp (divided by the speed and the rate scale)
 * whether or not earlier ones have finished, as real users would; above {@code maxOutstanding} a
 * due request is dropped and counted as an error, so an overloaded policy shows as errors, never as
 * a slower arrival rate.
 */
public final class Replay {

  private Replay() {}

  public static ReplayReport run(ReplayOptions o, GatewayLauncher launcher, PrintStream progress)
      throws Exception {
    List<TraceRecord> trace = TraceReader.read(o.trace(), o.limit());
    if (trace.isEmpty()) throw new IllegalArgumentException(o.trace() + ": no records");
    int bs = o.engine().blockSizeTokens();
    boolean mooncake = trace.get(0).path() == null;
    double oracle = mooncake ? CacheBounds.oracle(trace, bs) : Double.NaN;
    long[] pooledMisses =
        mooncake
            ? CacheBounds.pooledLruUncached(
                trace, bs, (long) o.replicas() * o.engine().capacityBlocks())
            : null;
    double pooled = mooncake ? CacheBounds.hitRate(trace, pooledMisses) : Double.NaN;
    long workingSet = mooncake ? CacheBounds.distinctBlocks(trace, bs) : 0;
    double ttftFloor =
        mooncake
            ? CacheBounds.ttftFloorMs(pooledMisses, o.engine().prefillTokensPerSecond(), 0.99)
            : Double.NaN;
    progress.printf(
        Locale.ROOT,
        "trace %s: %d requests over %.1f min; references: oracle %.3f, pooled LRU %.3f (%d x %d blocks)%n",
        o.trace(),
        trace.size(),
        (trace.get(trace.size() - 1).timestampMs() - trace.get(0).timestampMs()) / 60000.0,
        oracle,
        pooled,
        o.replicas(),
        o.engine().capacityBlocks());
    if (mooncake) {
      progress.printf(
          Locale.ROOT,
          "working set %d distinct blocks of %d tokens; fleet cache %d x %d = %d blocks (%.2f of it)%n",
          workingSet,
          bs,
          o.replicas(),
          o.engine().capacityBlocks(),
          (long) o.replicas() * o.engine().capacityBlocks(),
          (double) o.replicas() * o.engine().capacityBlocks() / Math.max(1, workingSet));
    }
    if (o.restartEngineAt() != null) {
      long[] due = dueNanos(trace, o);
      double spanMs = due[due.length - 1] / 1e6 * o.engine().speed();
      if (o.restartEngineAt().toMillis() >= spanMs)
        throw new IllegalArgumentException(
            String.format(
                Locale.ROOT,
                "the engine restart at %d ms comes after the last request (sent at %.0f ms of"
                    + " simulated time): restart earlier or replay more of the trace",
                o.restartEngineAt().toMillis(),
                spanMs));
    }
    if (o.directShare() > 0 || o.restartEngineAt() != null || o.indexModes().size() > 1) {
      progress.printf(
          Locale.ROOT,
          "index modes %s; %.0f%% of requests straight to a random engine; %s%n",
          String.join(
              ",", o.indexModes().stream().map(GatewayLauncher.IndexMode::wireName).toList()),
          o.directShare() * 100,
          o.restartEngineAt() == null
              ? "no restart"
              : "engine 0 restarts " + o.restartEngineAt().toMillis() + " ms into each cell");
    }
    if (!o.gateways().equals(List.of(Gateways.ONE))) {
      progress.printf(
          Locale.ROOT,
          "gateways %s (N: independent, Nc: one cluster); request i goes to gateway i mod N%n",
          String.join(",", o.gateways().stream().map(Gateways::label).toList()));
    }
    List<Cell> cells = cells(o);
    List<PolicyResult> results = new ArrayList<>();
    Vertx vertx = Vertx.vertx();
    try {
      if (o.warmup() > 0 && !cells.isEmpty()) {
        List<TraceRecord> head = trace.subList(0, Math.min(trace.size(), o.warmup()));
        java.util.Set<List<Object>> warmed = new java.util.HashSet<>();
        for (Cell c : cells) {
          if (!warmed.add(List.of(c.fleet(), c.mode(), c.gateways()))) continue;
          progress.printf(
              Locale.ROOT,
              "warm-up: %d requests through a throwaway fleet and gateway (%s%s), not measured%n",
              head.size(),
              c.name(),
              c.namedMode() ? "" : ", " + c.mode().wireName());
          runCell(
              vertx,
              o.unrecorded(),
              head,
              c,
              null,
              launcher,
              new PrintStream(java.io.OutputStream.nullOutputStream()));
        }
      }
      java.util.Set<String> csvNames = new java.util.HashSet<>();
      for (Cell c : cells) {
        String name = fileName(c.fileStem());
        for (int k = 2; !csvNames.add(name); k++) name = fileName(c.fileStem()) + "-" + k;
        results.add(runCell(vertx, o, trace, c, "requests-" + name + ".csv", launcher, progress));
      }
    } finally {
      vertx.close().toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
    }
    ReplayReport report =
        new ReplayReport(
            o.trace().toString(),
            trace.size(),
            o.replicas(),
            o.engine().capacityBlocks(),
            bs,
            o.engine().speed(),
            oracle,
            pooled,
            workingSet,
            ttftFloor,
            results,
            o.rateScale(),
            o.pdProtocol().wireName(),
            o.directShare(),
            o.restartEngineAt() == null ? -1 : o.restartEngineAt().toMillis());
    if (o.out() != null) ReportWriter.write(report, o.out());
    progress.print(ReportWriter.table(report));
    return report;
  }

  /**
   * One cell of the replay: a policy on a fleet layout and index mode, with a {@code
   * pd.minUncachedTokens} (-1 on an aggregated fleet).
   *
   * @param named whether the fleet and threshold are part of the cell's file name (only when the
   *     options name fleets: a plain policy comparison keeps {@code requests-POLICY.csv})
   * @param namedMode whether the index mode is part of the cell's names (unless every cell is
   *     approximate, as without {@code --index-modes})
   * @param gateways the gateways over the cell's engines
   * @param namedGateways whether the gateways are part of the cell's names (unless every cell has
   *     one gateway, as without {@code --gateways})
   */
  record Cell(
      Fleet fleet,
      String policy,
      GatewayLauncher.IndexMode mode,
      long minUncachedTokens,
      boolean named,
      boolean namedMode,
      Gateways gateways,
      boolean namedGateways) {

    String name() {
      String m = namedMode ? " " + mode.wireName() : "";
      String g = namedGateways ? " gateways=" + gateways.label() : "";
      return minUncachedTokens < 0
          ? fleet.label() + " " + policy + m + g
          : fleet.label() + " " + policy + m + " min=" + minUncachedTokens + g;
    }

    String fileStem() {
      String m = namedMode ? "-" + mode.wireName() : "";
      String g = namedGateways ? "-gw" + gateways.label() : "";
      if (!named) return policy + m + g;
      String p = policy.replaceAll(".*[/\\\\]", "").replaceAll("\\.ya?ml$", "");
      return fleet.label()
          + "-"
          + p
          + m
          + (minUncachedTokens < 0 ? "" : "-min" + minUncachedTokens)
          + g;
    }
  }

  /**
   * Every cell, in run order: fleets, then policies, then index modes, then thresholds, then
   * gateways.
   */
  static List<Cell> cells(ReplayOptions o) {
    List<Cell> out = new ArrayList<>();
    boolean named = !o.fleets().isEmpty();
    boolean namedMode = !o.indexModes().equals(List.of(GatewayLauncher.IndexMode.APPROXIMATE));
    boolean namedGateways = !o.gateways().equals(List.of(Gateways.ONE));
    for (Fleet f : o.fleetsOrDefault()) {
      for (String policy : o.policies()) {
        for (GatewayLauncher.IndexMode mode : o.indexModes()) {
          List<Long> thresholds = f.disaggregated() ? o.minUncachedTokens() : List.of(-1L);
          for (long t : thresholds)
            for (Gateways g : o.gateways())
              out.add(new Cell(f, policy, mode, t, named, namedMode, g, namedGateways));
        }
      }
    }
    return out;
  }

  private static <T> T await(Future<T> f, long seconds) throws Exception {
    return f.toCompletionStage().toCompletableFuture().get(seconds, TimeUnit.SECONDS);
  }

  /** Starts one engine per role of {@code fleet}; closes those started if one fails. */
  static Future<List<SimEngine>> startEngines(Vertx vertx, SimEngineConfig base, Fleet fleet) {
    List<Future<SimEngine>> started = new ArrayList<>();
    for (io.kvgate.sim.Role role : fleet.roles()) {
      started.add(SimEngine.start(vertx, base.toBuilder().role(role).build()));
    }
    return Future.join(started)
        .transform(
            ar -> {
              List<SimEngine> ok = new ArrayList<>();
              for (Future<SimEngine> f : started) if (f.succeeded()) ok.add(f.result());
              if (ar.succeeded()) return Future.succeededFuture(ok);
              return Future.join(ok.stream().map(SimEngine::close).toList())
                  .transform(x -> Future.failedFuture(ar.cause()));
            });
  }

  private static Future<Void> closeAll(List<SimEngine> engines) {
    return Future.join(engines.stream().map(SimEngine::close).toList()).mapEmpty();
  }

  private static PolicyResult runCell(
      Vertx vertx,
      ReplayOptions o,
      List<TraceRecord> trace,
      Cell cell,
      String csvName,
      GatewayLauncher launcher,
      PrintStream progress)
      throws Exception {
    List<SimEngine> engines = await(startEngines(vertx, o.engine(), cell.fleet()), 30);
    List<GatewayLauncher.Engine> withRoles = new ArrayList<>();
    List<io.kvgate.sim.Role> roles = cell.fleet().roles();
    for (int i = 0; i < engines.size(); i++)
      withRoles.add(new GatewayLauncher.Engine(engines.get(i).url(), roles.get(i)));
    GatewayLauncher.Spec spec =
        new GatewayLauncher.Spec(
            cell.policy(),
            o.engine().model(),
            withRoles,
            cell.fleet().disaggregated()
                ? new GatewayLauncher.Pd(o.pdProtocol(), cell.minUncachedTokens())
                : null,
            cell.mode(),
            o.restartEngineAt() == null ? 1 : Math.max(1, o.engine().speed()),
            cell.gateways().count(),
            cell.gateways().clustered());
    GatewayLauncher.RunningGateway gw;
    try {
      // a cluster forms member by member, each catching up with the others
      gw = await(launcher.start(vertx, spec), 30L * cell.gateways().count());
    } catch (Exception e) {
      await(closeAll(engines), 30);
      throw e;
    }
    List<KvEventPublisher> publishers = new ArrayList<>();
    try {
      if (cell.mode() == GatewayLauncher.IndexMode.PRECISE) publish(engines, gw, publishers);
      return drive(vertx, o, trace, cell, csvName, engines, gw, progress);
    } finally {
      await(Future.join(publishers.stream().map(KvEventPublisher::close).toList()), 30);
      await(gw.close(), 30);
      await(closeAll(engines), 30);
    }
  }

  /**
   * Connects every engine's KV event publisher to the gateway's event listener, each named by its
   * URL as the gateway is configured with it, and waits until the gateway has applied a batch of
   * each: from then on the gateway's index follows every engine, and traffic may start.
   */
  private static void publish(
      List<SimEngine> engines, GatewayLauncher.RunningGateway gw, List<KvEventPublisher> publishers)
      throws Exception {
    int port = gw.kvEventsPort();
    if (port <= 0)
      throw new IllegalStateException(
          "a precise cell needs a gateway with a KV event listener; the launcher reported none");
    for (SimEngine e : engines) publishers.add(e.publishKvEvents("127.0.0.1:" + port, e.url()));
    try {
      await(Future.all(publishers.stream().map(KvEventPublisher::firstAck).toList()), 30);
    } catch (java.util.concurrent.TimeoutException e) {
      throw new IllegalStateException(
          "the gateway acknowledged no KV event batch of some engine within 30 s", e);
    }
  }

  /** Mutable counters of one run, touched only from the dispatcher's event loop. */
  private static final class Run {
    final long[] ttftNanos;
    final long[] e2eNanos;
    final long[] sentNanos;
    final int[] promptTokens;
    final int[] cachedTokens;
    final int[] predictedTokens;
    final String[] endpoint;
    final String[] prefillEndpoint;
    final StreamTiming[] timing;

    /** The engine (fleet index) a request goes to straight, or -1 for the gateway. */
    final int[] directEngine;

    final AtomicInteger outstanding = new AtomicInteger();
    final AtomicLong errors = new AtomicLong();
    final AtomicLong completed = new AtomicLong();
    final AtomicLong outputTokens = new AtomicLong();
    final AtomicInteger finished = new AtomicInteger();
    int next;

    Run(int n) {
      ttftNanos = new long[n];
      e2eNanos = new long[n];
      sentNanos = new long[n];
      promptTokens = new int[n];
      cachedTokens = new int[n];
      predictedTokens = new int[n];
      endpoint = new String[n];
      prefillEndpoint = new String[n];
      timing = new StreamTiming[n];
      directEngine = new int[n];
      Arrays.fill(ttftNanos, -1);
      Arrays.fill(promptTokens, -1);
      Arrays.fill(cachedTokens, -1);
      Arrays.fill(predictedTokens, -1);
      Arrays.fill(e2eNanos, -1);
      Arrays.fill(directEngine, -1);
    }

    boolean direct(int i) {
      return directEngine[i] >= 0;
    }

    /**
     * Completed gateway-routed request {@code i} was priced on a phantom hit: the gateway predicted
     * at least a block more cached tokens than the engine found. False if either number is missing.
     */
    boolean phantom(int i, int blockTokens) {
      return judged(i) && predictedTokens[i] - cachedTokens[i] >= blockTokens;
    }

    /** Completed, gateway-routed, with both the gateway's prediction and the engine's count. */
    boolean judged(int i) {
      return !direct(i) && e2eNanos[i] >= 0 && predictedTokens[i] >= 0 && cachedTokens[i] >= 0;
    }
  }

  /** Salt of the direct-traffic draw, so that it does not repeat the jitter's numbers. */
  private static final long DIRECT_SALT = 0x6b76_6761_7465_4449L;

  /**
   * Which requests bypass the gateway, and to which of {@code engines} engines: a pure function of
   * the seed and the share, so every cell of a replay (and every index mode) sends the same ones.
   * Two draws per request whatever the share, so a larger share keeps a smaller one's requests.
   */
  public static int[] directEngines(int requests, int engines, double share, long seed) {
    int[] out = new int[requests];
    SplittableRandom r = new SplittableRandom(seed ^ DIRECT_SALT);
    for (int i = 0; i < requests; i++) {
      boolean direct = r.nextDouble() < share;
      int engine = r.nextInt(engines);
      out[i] = direct ? engine : -1;
    }
    return out;
  }

  /** When each request is due, wall nanoseconds after the cell's start, ascending. */
  static long[] dueNanos(List<TraceRecord> trace, ReplayOptions o) {
    long t0Trace = trace.get(0).timestampMs();
    long[] dueNanos = new long[trace.size()];
    SplittableRandom jitter = new SplittableRandom(o.seed());
    for (int i = 0; i < dueNanos.length; i++) {
      double ms =
          trace.get(i).timestampMs()
              - t0Trace
              + (o.jitterMs() > 0 ? jitter.nextDouble() * o.jitterMs() : 0);
      dueNanos[i] = (long) (ms / (o.engine().speed() * o.rateScale()) * 1e6);
    }
    Arrays.sort(dueNanos);
    return dueNanos;
  }

  /** The gateway's endpoint id of an engine URL ({@code host:port}, its x-kvgate-endpoint). */
  static String endpointId(String url) {
    URI u = URI.create(url);
    int port = u.getPort() >= 0 ? u.getPort() : "https".equals(u.getScheme()) ? 443 : 80;
    return u.getHost() + ":" + port;
  }

  /**
   * The restart of engine 0 as the cell's timers saw it: when, and engine 0's accumulated counters
   * over (simulated) time, for the windows around it. A monitor: the sampler and the restart timer
   * may run on different event loops, and the replay's thread reads it at the end.
   */
  private static final class RestartProbe {
    final long atNanos;
    private long restartedNanos = -1;
    private final List<double[]> samples = new ArrayList<>(); // {sim ms, prompt, cached tokens}

    RestartProbe(long atNanos) {
      this.atNanos = atNanos;
    }

    synchronized void sample(double simMs, EngineCounters c) {
      samples.add(new double[] {simMs, c.promptTokens(), c.cachedTokens()});
    }

    synchronized void restarted(long nanos) {
      restartedNanos = nanos;
    }

    /** When engine 0 restarted, wall nanoseconds after the cell's start; -1 if it did not. */
    synchronized long restartedNanos() {
      return restartedNanos;
    }

    /** Engine 0's counters as of the last sample at or before {@code simMs}; null if none. */
    private double[] at(double simMs) {
      double[] last = null;
      for (double[] x : samples) {
        if (x[0] > simMs) break;
        last = x;
      }
      return last;
    }

    /**
     * Engine 0's hit rate between two simulated times, from the samples at or before each bound
     * (about a simulated second apart, one at the restart itself); NaN if {@code toMs} is past the
     * last sample or the engine saw no prompt in between.
     */
    synchronized double hitRate(double fromMs, double toMs) {
      double lastMs = samples.isEmpty() ? -1 : samples.get(samples.size() - 1)[0];
      if (toMs > lastMs) return Double.NaN;
      double[] a = at(fromMs);
      double[] b = at(toMs);
      if (a == null || b == null || b[1] - a[1] <= 0) return Double.NaN;
      return (b[2] - a[2]) / (b[1] - a[1]);
    }
  }

  private static PolicyResult drive(
      Vertx vertx,
      ReplayOptions o,
      List<TraceRecord> trace,
      Cell cell,
      String csvName,
      List<SimEngine> engines,
      GatewayLauncher.RunningGateway gw,
      PrintStream progress)
      throws Exception {
    List<URI> bases = gw.baseUrls().stream().map(URI::create).toList();
    if (bases.size() != cell.gateways().count())
      throw new IllegalStateException(
          "the launcher started "
              + bases.size()
              + " gateway(s) for a cell of "
              + cell.gateways().count());
    List<GatewayLauncher.ClusterMeters> clusterBefore = gw.clusterMeters();
    List<URI> engineUris = engines.stream().map(e -> URI.create(e.url())).toList();
    HttpClient client =
        vertx.createHttpClient(
            new HttpClientOptions().setKeepAlive(true).setTcpNoDelay(true),
            new PoolOptions().setHttp1MaxSize(Math.max(16, o.maxOutstanding())));
    HashIdText text = new HashIdText(ReplayOptions.CHARS_PER_TOKEN);
    double speed = o.engine().speed();
    String name = cell.name();
    long[] dueNanos = dueNanos(trace, o);
    Run run = new Run(trace.size());
    if (o.directShare() > 0) {
      int[] d = directEngines(trace.size(), engines.size(), o.directShare(), o.seed());
      System.arraycopy(d, 0, run.directEngine, 0, d.length);
    }
    List<EngineCounters> counters =
        engines.stream().map(e -> new EngineCounters(e.stats())).toList();
    RestartProbe probe =
        o.restartEngineAt() == null
            ? null
            : new RestartProbe((long) (o.restartEngineAt().toNanos() / speed));
    if (probe != null) probe.sample(0, counters.get(0));
    List<int[]> load = new ArrayList<>();
    long start = System.nanoTime();
    io.vertx.core.Promise<Void> done = io.vertx.core.Promise.promise();
    long dispatcher =
        vertx.setPeriodic(
            2,
            t -> {
              long now = System.nanoTime() - start;
              while (run.next < trace.size() && dueNanos[run.next] <= now) {
                int i = run.next++;
                run.sentNanos[i] = now;
                URI target =
                    run.direct(i)
                        ? engineUris.get(run.directEngine[i])
                        : bases.get(i % bases.size());
                send(client, target, text, o, trace.get(i), i, run, done, trace.size());
              }
            });
    long sampleMs = Math.max(20, (long) (1000 / speed));
    long sampler =
        vertx.setPeriodic(
            sampleMs,
            t -> {
              int[] row = new int[engines.size()];
              for (int e = 0; e < row.length; e++) {
                EngineStats s = engines.get(e).stats();
                row[e] = s.running() + s.waiting();
                counters.get(e).observe(s);
              }
              load.add(row);
              if (probe != null)
                probe.sample((System.nanoTime() - start) / 1e6 * speed, counters.get(0));
            });
    long restarter =
        probe == null
            ? -1
            : vertx.setTimer(
                Math.max(1, probe.atNanos / 1_000_000),
                t -> {
                  // a reading just before: what the old process counted is not lost
                  counters.get(0).observe(engines.get(0).stats());
                  long at = System.nanoTime() - start;
                  probe.restarted(at);
                  probe.sample(at / 1e6 * speed, counters.get(0));
                  engines
                      .get(0)
                      .restart()
                      .onSuccess(
                          id ->
                              progress.printf(
                                  Locale.ROOT,
                                  "  %-20s engine 0 restarted at %.0f ms (instance %s)%n",
                                  name,
                                  at / 1e6 * speed,
                                  id));
                });
    long reporter =
        vertx.setPeriodic(
            5000,
            t ->
                progress.printf(
                    Locale.ROOT,
                    "  %-20s sent %6d/%d  done %6d  outstanding %4d  errors %d  elapsed %.0f s%n",
                    name,
                    run.next,
                    trace.size(),
                    run.completed.get(),
                    run.outstanding.get(),
                    run.errors.get(),
                    (System.nanoTime() - start) / 1e9));
    double spanSeconds = dueNanos[dueNanos.length - 1] / 1e9;
    try {
      done.future()
          .toCompletionStage()
          .toCompletableFuture()
          .get((long) spanSeconds + 600, TimeUnit.SECONDS);
    } finally {
      vertx.cancelTimer(dispatcher);
      vertx.cancelTimer(sampler);
      vertx.cancelTimer(reporter);
      if (restarter >= 0) vertx.cancelTimer(restarter);
      client.close();
    }
    double wallSeconds = (System.nanoTime() - start) / 1e9;
    double simSeconds = wallSeconds * speed;
    // the sampler is cancelled: the counters are this thread's now (its last run happened-before
    // the cancellation's completion on the event loop, which the done future's completion follows)
    for (int e = 0; e < engines.size(); e++) counters.get(e).observe(engines.get(e).stats());
    if (probe != null) probe.sample(wallSeconds * 1e3 * speed, counters.get(0));

    long cached = 0;
    long prompt = 0;
    long computed = 0;
    List<Long> prefill = new ArrayList<>();
    List<Long> prefillPool = new ArrayList<>();
    List<io.kvgate.sim.Role> roles = cell.fleet().roles();
    for (int e = 0; e < engines.size(); e++) {
      EngineCounters c = counters.get(e);
      cached += c.cachedTokens();
      prompt += c.promptTokens();
      computed += c.prefillTokensComputed();
      prefill.add(c.prefillTokensComputed());
      if (!cell.fleet().disaggregated() || roles.get(e) == io.kvgate.sim.Role.PREFILL)
        prefillPool.add(c.prefillTokensComputed());
    }
    double hitRate;
    if (cell.fleet().disaggregated()) {
      long clientPrompt = 0;
      for (int i = 0; i < trace.size(); i++)
        if (run.e2eNanos[i] >= 0 && run.promptTokens[i] > 0) clientPrompt += run.promptTokens[i];
      hitRate = clientPrompt == 0 ? 0 : Math.max(0, 1 - (double) computed / clientPrompt);
    } else {
      hitRate = prompt == 0 ? 0 : (double) cached / prompt;
    }
    double meanPrefill = prefillPool.stream().mapToLong(Long::longValue).average().orElse(0);
    double maxPrefill = prefillPool.stream().mapToLong(Long::longValue).max().orElse(0);
    // client-side latencies of the gateway-routed requests; the direct ones' TTFT apart
    long[] routedE2e = run.e2eNanos.clone();
    long[] routedTtft = run.ttftNanos.clone();
    long[] directTtft = new long[trace.size()];
    Arrays.fill(directTtft, -1);
    for (int i = 0; i < trace.size(); i++) {
      if (!run.direct(i)) continue;
      directTtft[i] = run.ttftNanos[i];
      routedE2e[i] = -1;
      routedTtft[i] = -1;
    }
    double[] ttft = sortedMs(routedTtft, speed);
    double[] e2e = sortedMs(routedE2e, speed);
    double[] ttftDirect = sortedMs(directTtft, speed);
    Itl itl = Itl.of(run.timing, routedE2e, speed, o.engine().decodeStepTime().toNanos() / 1e6);
    long disaggregated = 0;
    long directRequests = 0;
    long judged = 0;
    long phantoms = 0;
    int bs = o.engine().blockSizeTokens();
    for (int i = 0; i < trace.size(); i++) {
      if (run.e2eNanos[i] >= 0 && run.prefillEndpoint[i] != null) disaggregated++;
      if (run.direct(i)) directRequests++;
      if (run.judged(i)) judged++;
      if (run.phantom(i, bs)) phantoms++;
    }
    List<PolicyResult.EngineView> view =
        indexView(gw, engines, cell.mode() == GatewayLauncher.IndexMode.PRECISE);
    PolicyResult.Cluster cluster =
        cell.gateways().clustered()
            ? clusterResult(clusterBefore, gw.clusterMeters(), trace.size() - directRequests)
            : null;
    PolicyResult.Restart restart =
        probe == null || probe.restartedNanos() < 0
            ? null
            : restartResult(run, probe, engines.get(0).url(), speed, bs);
    PolicyResult r =
        new PolicyResult(
            cell.policy(),
            trace.size(),
            run.errors.get(),
            hitRate,
            pct(ttft, 0.5),
            pct(ttft, 0.9),
            pct(ttft, 0.99),
            pct(e2e, 0.5),
            pct(e2e, 0.99),
            run.completed.get() / simSeconds,
            run.outputTokens.get() / simSeconds,
            meanPrefill == 0 ? 0 : maxPrefill / meanPrefill,
            prefill,
            ttft,
            load,
            cell.fleet().label(),
            cell.minUncachedTokens(),
            disaggregated,
            itl.gaps(),
            itl.p50Ms(),
            itl.p99Ms(),
            itl.requestP99MedianMs(),
            itl.quantilesMs(),
            itl.burstShare(),
            cell.mode().wireName(),
            directRequests,
            pct(ttftDirect, 0.5),
            pct(ttftDirect, 0.99),
            judged,
            phantoms,
            view,
            restart,
            cell.gateways().label(),
            cluster);
    if (o.out() != null && csvName != null) writeRequests(o.out().resolve(csvName), run, speed);
    progress.printf(
        Locale.ROOT,
        "  %-20s finished: hit rate %.3f, TTFT p50 %.0f ms p99 %.0f ms, ITL p50 %.1f ms p99 %.1f ms"
            + " (bursts %.3f), errors %d, imbalance %.2f%n",
        name,
        r.hitRate(),
        r.ttftP50Ms(),
        r.ttftP99Ms(),
        r.itlP50Ms(),
        r.itlP99Ms(),
        r.itlBurstShare(),
        r.errors(),
        r.prefillImbalance());
    if (cluster != null) {
      progress.printf(
          Locale.ROOT,
          "  %-20s cluster of %d: %d index writes propagated, p50 %.1f ms p99 %.1f ms (wall),"
              + " %.0f bytes sent per request, %d members at the end%n",
          name,
          cluster.gateways(),
          cluster.propagations(),
          cluster.propagationP50WallMs(),
          cluster.propagationP99WallMs(),
          cluster.sentBytesPerRequest(),
          cluster.membersAtEnd());
    }
    if (directRequests > 0 || judged > 0 && cell.namedMode() || restart != null) {
      progress.printf(
          Locale.ROOT,
          "  %-20s %s index: phantom hits %d of %d judged gateway-routed requests; %d direct%s%n",
          name,
          cell.mode().wireName(),
          phantoms,
          judged,
          directRequests,
          restart == null
              ? ""
              : String.format(
                  Locale.ROOT,
                  "; after the restart of engine 0: %d of %d routed there in a minute on a phantom"
                      + " hit, the last %s ms after, its hit rate %.3f before, %.3f after",
                  restart.phantomAfter(),
                  restart.routedAfter(),
                  Double.isNaN(restart.lastPhantomAfterMs())
                      ? "-"
                      : String.format(Locale.ROOT, "%.0f", restart.lastPhantomAfterMs()),
                  restart.hitRateBefore(),
                  restart.hitRateAfter()));
    }
    return r;
  }

  /**
   * The cell's cluster measures: what every gateway's cluster meters counted from before traffic to
   * now, merged over the gateways, per gateway-routed request.
   */
  static PolicyResult.Cluster clusterResult(
      List<GatewayLauncher.ClusterMeters> before,
      List<GatewayLauncher.ClusterMeters> after,
      long routedRequests) {
    if (after.size() != before.size())
      throw new IllegalStateException(
          "cluster meters of "
              + before.size()
              + " gateways before the cell, "
              + after.size()
              + " after");
    List<GatewayLauncher.ClusterMeters> delta = new ArrayList<>();
    for (int k = 0; k < after.size(); k++) delta.add(after.get(k).since(before.get(k)));
    GatewayLauncher.ClusterMeters m = GatewayLauncher.ClusterMeters.merge(delta);
    return new PolicyResult.Cluster(
        after.size(),
        m.members(),
        m.propagations(),
        m.propagationQuantileMs(0.5),
        m.propagationQuantileMs(0.99),
        m.sentBytes(),
        routedRequests <= 0 ? Double.NaN : m.sentBytes() / routedRequests);
  }

  private static double[] sortedMs(long[] nanos, double speed) {
    return Arrays.stream(nanos)
        .filter(v -> v >= 0)
        .mapToDouble(v -> v / 1e6 * speed)
        .sorted()
        .toArray();
  }

  /**
   * The gateway's view of every engine next to the engine's own count of cached blocks. In a
   * precise cell the view trails the engines by an event batch (20 ms) and a load report (100 ms)
   * once traffic has stopped, so it is read again until the index holds what each engine holds, for
   * at most two seconds; whatever differs then is the cell's finding. Runs on the replay's thread:
   * the gateway's view takes a lock per engine.
   */
  private static List<PolicyResult.EngineView> indexView(
      GatewayLauncher.RunningGateway gw, List<SimEngine> engines, boolean precise)
      throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(2);
    while (true) {
      List<GatewayLauncher.EngineIndexView> v = gw.indexView();
      if (v.isEmpty()) return List.of();
      List<PolicyResult.EngineView> out = new ArrayList<>();
      boolean agree = true;
      for (SimEngine e : engines) {
        String id = endpointId(e.url());
        GatewayLauncher.EngineIndexView g =
            v.stream().filter(x -> endpointId(x.url()).equals(id)).findFirst().orElse(null);
        long own = e.stats().cachedBlocks();
        if (g == null) {
          out.add(new PolicyResult.EngineView(e.url(), "unknown", -1, -1, own, 0));
          continue;
        }
        agree &= g.indexBlocks() == own && g.reportedCachedBlocks() == own;
        out.add(
            new PolicyResult.EngineView(
                e.url(), g.mode(), g.indexBlocks(), g.reportedCachedBlocks(), own, g.resets()));
      }
      if (!precise || agree || System.nanoTime() > deadline) return out;
      // a bounded wait for the last event batch and load report, not a synchronisation point
      Thread.sleep(20);
    }
  }

  private static PolicyResult.Restart restartResult(
      Run run, RestartProbe probe, String url, double speed, int blockTokens) {
    String id = endpointId(url);
    long from = probe.restartedNanos();
    long to = from + (long) (PolicyResult.Restart.WINDOW_MS * 1e6 / speed);
    long routed = 0;
    long phantoms = 0;
    long lastNanos = -1;
    for (int i = 0; i < run.sentNanos.length; i++) {
      if (run.direct(i) || !id.equals(run.endpoint[i])) continue;
      long sent = run.sentNanos[i];
      if (sent < from || sent > to) continue;
      routed++;
      if (run.phantom(i, blockTokens)) {
        phantoms++;
        lastNanos = Math.max(lastNanos, sent - from);
      }
    }
    double atMs = from / 1e6 * speed;
    long w = PolicyResult.Restart.WINDOW_MS;
    long step = PolicyResult.Restart.STEP_MS;
    double[] windows = new double[(int) (2 * w / step)];
    for (int k = 0; k < windows.length; k++) {
      double a = atMs - w + k * step;
      windows[k] = a < 0 ? Double.NaN : probe.hitRate(a, a + step);
    }
    return new PolicyResult.Restart(
        url,
        atMs,
        routed,
        phantoms,
        lastNanos < 0 ? Double.NaN : lastNanos / 1e6 * speed,
        lastNanos < 0 ? Double.NaN : lastNanos / 1e6,
        atMs < w ? probe.hitRate(0, atMs) : probe.hitRate(atMs - w, atMs),
        probe.hitRate(atMs, atMs + w),
        windows);
  }

  static double pct(double[] sorted, double p) {
    if (sorted.length == 0) return Double.NaN;
    return sorted[Math.min(sorted.length - 1, (int) Math.floor(p * sorted.length))];
  }

  private static void send(
      HttpClient client,
      URI base,
      HashIdText text,
      ReplayOptions o,
      TraceRecord rec,
      int i,
      Run run,
      io.vertx.core.Promise<Void> done,
      int total) {
    if (run.outstanding.get() >= o.maxOutstanding()) {
      run.errors.incrementAndGet();
      finishOne(run, done, total);
      return;
    }
    int maxTokens =
        o.maxOutputTokens() > 0
            ? Math.min(o.maxOutputTokens(), Math.max(1, rec.outputLength()))
            : Math.max(1, rec.outputLength());
    String path;
    Buffer body;
    if (rec.path() == null) {
      path = "/v1/completions";
      body =
          new JsonObject()
              .put("model", o.engine().model())
              .put("prompt", text.prompt(rec))
              .put("max_tokens", maxTokens)
              .put("stream", true)
              .put("stream_options", new JsonObject().put("include_usage", true))
              .put("ignore_eos", true)
              .toBuffer();
    } else {
      path = rec.path();
      body = Buffer.buffer(rec.body());
    }
    run.outstanding.incrementAndGet();
    long t0 = System.nanoTime();
    client
        .request(
            new RequestOptions()
                .setMethod(HttpMethod.POST)
                .setHost(base.getHost())
                .setPort(base.getPort())
                .setURI(path)
                .putHeader("content-type", "application/json"))
        .compose(req -> req.send(body))
        .compose(
            resp -> {
              if (resp.statusCode() != 200)
                return resp.body()
                    .compose(b -> Future.failedFuture("HTTP " + resp.statusCode() + ": " + b));
              run.endpoint[i] =
                  run.direct(i)
                      ? base.getHost() + ":" + base.getPort()
                      : resp.getHeader("x-kvgate-endpoint");
              run.prefillEndpoint[i] = resp.getHeader("x-kvgate-prefill-endpoint");
              StreamTiming timing = new StreamTiming();
              run.timing[i] = timing;
              String predicted = resp.getHeader("x-kvgate-predicted-cached-tokens");
              if (predicted != null && predicted.matches("\\d{1,9}"))
                run.predictedTokens[i] = Integer.parseInt(predicted);
              StringBuilder tail = new StringBuilder();
              resp.handler(
                  chunk -> {
                    long now = System.nanoTime();
                    String chunkText = chunk.toString();
                    if (run.ttftNanos[i] < 0 && hasText(chunkText)) run.ttftNanos[i] = now - t0;
                    timing.onChunk(chunkText, now);
                    keepTail(tail, chunkText);
                  });
              resp.endHandler(
                  v -> {
                    run.promptTokens[i] = usageField(tail, "\"prompt_tokens\":");
                    run.cachedTokens[i] = usageField(tail, "\"cached_tokens\":");
                  });
              return resp.end();
            })
        .onComplete(
            ar -> {
              run.outstanding.decrementAndGet();
              if (ar.succeeded()) {
                run.e2eNanos[i] = System.nanoTime() - t0;
                if (run.ttftNanos[i] < 0) run.ttftNanos[i] = run.e2eNanos[i];
                run.completed.incrementAndGet();
                run.outputTokens.addAndGet(maxTokens);
              } else {
                run.errors.incrementAndGet();
              }
              finishOne(run, done, total);
            });
  }

  private static void finishOne(Run run, io.vertx.core.Promise<Void> done, int total) {
    if (run.finished.incrementAndGet() == total) done.tryComplete();
  }

  /** Keeps the last few KB of a stream: the usage chunk sits just before {@code [DONE]}. */
  private static void keepTail(StringBuilder tail, String chunk) {
    tail.append(chunk);
    if (tail.length() > 4096) tail.delete(0, tail.length() - 4096);
  }

  /** The integer after the last occurrence of {@code key} in {@code s}, or -1. */
  static int usageField(CharSequence s, String key) {
    int at = s.toString().lastIndexOf(key);
    if (at < 0) return -1;
    int i = at + key.length();
    while (i < s.length() && s.charAt(i) == ' ') i++;
    int v = 0;
    int start = i;
    while (i < s.length() && Character.isDigit(s.charAt(i))) v = v * 10 + (s.charAt(i++) - '0');
    return i == start ? -1 : v;
  }

  static String fileName(String policy) {
    String base = policy.replaceAll(".*[/\\\\]", "").replaceAll("\\.ya?ml$", "");
    return base.replaceAll("[^A-Za-z0-9._-]", "_");
  }

  /**
   * One line per request: when it was sent and its TTFT and end-to-end time (simulated ms), the
   * engine that served it (the decode engine of a disaggregated request) and its prefill engine
   * (empty if served whole), its prompt, the tokens the engine reported cached and the tokens the
   * gateway predicted cached there (-1 for policies that predict nothing, and for direct requests),
   * the content events streamed and the median, 99th-percentile and largest gap between them
   * (simulated ms; -1 without a gap), and whether it went straight to the engine ({@code direct} 1)
   * instead of through the gateway. Which requests set a tail, where they waited and what the index
   * got wrong is read from here.
   */
  private static void writeRequests(java.nio.file.Path file, Run run, double speed)
      throws java.io.IOException {
    java.nio.file.Files.createDirectories(file.getParent());
    try (PrintStream out =
        new PrintStream(
            java.nio.file.Files.newOutputStream(file),
            false,
            java.nio.charset.StandardCharsets.UTF_8)) {
      out.println(
          "index,sent_ms,ttft_ms,e2e_ms,endpoint,prompt_tokens,cached_tokens,predicted_cached_tokens,"
              + "prefill_endpoint,content_events,itl_p50_ms,itl_p99_ms,itl_max_ms,direct");
      for (int i = 0; i < run.ttftNanos.length; i++) {
        StreamTiming t = run.timing[i];
        double[] gaps = Itl.sortedMs(t == null ? new long[0] : t.gaps(), speed);
        out.printf(
            Locale.ROOT,
            "%d,%.1f,%.1f,%.1f,%s,%d,%d,%d,%s,%d,%.1f,%.1f,%.1f,%d%n",
            i,
            run.sentNanos[i] / 1e6 * speed,
            run.ttftNanos[i] < 0 ? -1 : run.ttftNanos[i] / 1e6 * speed,
            run.e2eNanos[i] < 0 ? -1 : run.e2eNanos[i] / 1e6 * speed,
            run.endpoint[i] == null ? "" : run.endpoint[i],
            run.promptTokens[i],
            run.cachedTokens[i],
            run.predictedTokens[i],
            run.prefillEndpoint[i] == null ? "" : run.prefillEndpoint[i],
            t == null ? 0 : t.contentEvents(),
            gaps.length == 0 ? -1 : pct(gaps, 0.5),
            gaps.length == 0 ? -1 : pct(gaps, 0.99),
            gaps.length == 0 ? -1 : gaps[gaps.length - 1],
            run.direct(i) ? 1 : 0);
      }
    }
  }

  /**
   * A chunk carrying generated text: a completion's {@code "text":"x} or a chat delta's {@code
   * "content":"x}.
   */
  static boolean hasText(String s) {
    return nonEmptyAfter(s, "\"text\":\"") || nonEmptyAfter(s, "\"content\":\"");
  }

  private static boolean nonEmptyAfter(String s, String key) {
    int at = s.indexOf(key);
    return at >= 0 && at + key.length() < s.length() && s.charAt(at + key.length()) != '"';
  }
}
