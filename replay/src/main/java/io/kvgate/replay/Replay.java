package io.kvgate.replay;

import io.kvgate.sim.EngineStats;
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
 * cell (fleet layout × policy × {@code pd.minUncachedTokens} on disaggregated layouts), and
 * measures what the engines and the clients saw: TTFT, the gaps between streamed tokens (ITL),
 * end-to-end latency, hit rate, throughput. Blocking: run it from a main or test thread, never an
 * event loop (the load itself runs on Vert.x).
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
    List<Cell> cells = cells(o);
    List<PolicyResult> results = new ArrayList<>();
    Vertx vertx = Vertx.vertx();
    try {
      if (o.warmup() > 0 && !cells.isEmpty()) {
        List<TraceRecord> head = trace.subList(0, Math.min(trace.size(), o.warmup()));
        java.util.Set<Fleet> warmed = new java.util.HashSet<>();
        for (Cell c : cells) {
          if (!warmed.add(c.fleet())) continue;
          progress.printf(
              Locale.ROOT,
              "warm-up: %d requests through a throwaway fleet and gateway (%s), not measured%n",
              head.size(),
              c.name());
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
            o.pdProtocol().wireName());
    if (o.out() != null) ReportWriter.write(report, o.out());
    progress.print(ReportWriter.table(report));
    return report;
  }

  /**
   * One cell of the replay: a policy on a fleet layout, with a {@code pd.minUncachedTokens} (-1 on
   * an aggregated fleet).
   *
   * @param named whether the fleet and threshold are part of the cell's file name (only when the
   *     options name fleets: a plain policy comparison keeps {@code requests-POLICY.csv})
   */
  record Cell(Fleet fleet, String policy, long minUncachedTokens, boolean named) {
    String name() {
      return minUncachedTokens < 0
          ? fleet.label() + " " + policy
          : fleet.label() + " " + policy + " min=" + minUncachedTokens;
    }

    String fileStem() {
      if (!named) return policy;
      String p = policy.replaceAll(".*[/\\\\]", "").replaceAll("\\.ya?ml$", "");
      return fleet.label() + "-" + p + (minUncachedTokens < 0 ? "" : "-min" + minUncachedTokens);
    }
  }

  /** Every cell, in run order: fleets, then policies, then thresholds. */
  static List<Cell> cells(ReplayOptions o) {
    List<Cell> out = new ArrayList<>();
    boolean named = !o.fleets().isEmpty();
    for (Fleet f : o.fleetsOrDefault()) {
      for (String policy : o.policies()) {
        if (!f.disaggregated()) {
          out.add(new Cell(f, policy, -1, named));
          continue;
        }
        for (long t : o.minUncachedTokens()) out.add(new Cell(f, policy, t, named));
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
                : null);
    GatewayLauncher.RunningGateway gw;
    try {
      gw = await(launcher.start(vertx, spec), 30);
    } catch (Exception e) {
      await(closeAll(engines), 30);
      throw e;
    }
    try {
      return drive(vertx, o, trace, cell, csvName, engines, gw.baseUrl(), progress);
    } finally {
      await(gw.close(), 30);
      await(closeAll(engines), 30);
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
      Arrays.fill(ttftNanos, -1);
      Arrays.fill(promptTokens, -1);
      Arrays.fill(cachedTokens, -1);
      Arrays.fill(predictedTokens, -1);
      Arrays.fill(e2eNanos, -1);
    }
  }

  private static PolicyResult drive(
      Vertx vertx,
      ReplayOptions o,
      List<TraceRecord> trace,
      Cell cell,
      String csvName,
      List<SimEngine> engines,
      String baseUrl,
      PrintStream progress)
      throws Exception {
    URI base = URI.create(baseUrl);
    HttpClient client =
        vertx.createHttpClient(
            new HttpClientOptions().setKeepAlive(true).setTcpNoDelay(true),
            new PoolOptions().setHttp1MaxSize(Math.max(16, o.maxOutstanding())));
    HashIdText text = new HashIdText(ReplayOptions.CHARS_PER_TOKEN);
    double speed = o.engine().speed();
    String name = cell.name();
    long t0Trace = trace.get(0).timestampMs();
    long[] dueNanos = new long[trace.size()];
    SplittableRandom jitter = new SplittableRandom(o.seed());
    for (int i = 0; i < dueNanos.length; i++) {
      double ms =
          trace.get(i).timestampMs()
              - t0Trace
              + (o.jitterMs() > 0 ? jitter.nextDouble() * o.jitterMs() : 0);
      dueNanos[i] = (long) (ms / (speed * o.rateScale()) * 1e6);
    }
    Arrays.sort(dueNanos);
    Run run = new Run(trace.size());
    List<EngineStats> before = engines.stream().map(SimEngine::stats).toList();
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
                send(client, base, text, o, trace.get(i), i, run, done, trace.size());
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
              }
              load.add(row);
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
      client.close();
    }
    double wallSeconds = (System.nanoTime() - start) / 1e9;
    double simSeconds = wallSeconds * speed;

    long cached = 0;
    long prompt = 0;
    long computed = 0;
    List<Long> prefill = new ArrayList<>();
    List<Long> prefillPool = new ArrayList<>();
    List<io.kvgate.sim.Role> roles = cell.fleet().roles();
    for (int e = 0; e < engines.size(); e++) {
      EngineStats a = before.get(e);
      EngineStats b = engines.get(e).stats();
      cached += b.cachedTokens() - a.cachedTokens();
      prompt += b.promptTokens() - a.promptTokens();
      long c = b.prefillTokensComputed() - a.prefillTokensComputed();
      computed += c;
      prefill.add(c);
      if (!cell.fleet().disaggregated() || roles.get(e) == io.kvgate.sim.Role.PREFILL)
        prefillPool.add(c);
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
    double[] ttft =
        Arrays.stream(run.ttftNanos)
            .filter(v -> v >= 0)
            .mapToDouble(v -> v / 1e6 * speed)
            .sorted()
            .toArray();
    double[] e2e =
        Arrays.stream(run.e2eNanos)
            .filter(v -> v >= 0)
            .mapToDouble(v -> v / 1e6 * speed)
            .sorted()
            .toArray();
    Itl itl = Itl.of(run.timing, run.e2eNanos, speed, o.engine().decodeStepTime().toNanos() / 1e6);
    long disaggregated = 0;
    for (int i = 0; i < trace.size(); i++)
      if (run.e2eNanos[i] >= 0 && run.prefillEndpoint[i] != null) disaggregated++;
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
            itl.burstShare());
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
    return r;
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
              run.endpoint[i] = resp.getHeader("x-kvgate-endpoint");
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
   * gateway predicted cached there (-1 for policies that predict nothing), the content events
   * streamed and the median, 99th-percentile and largest gap between them (simulated ms; -1 without
   * a gap). Which requests set a tail, where they waited and what the index got wrong is read from
   * here.
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
              + "prefill_endpoint,content_events,itl_p50_ms,itl_p99_ms,itl_max_ms");
      for (int i = 0; i < run.ttftNanos.length; i++) {
        StreamTiming t = run.timing[i];
        double[] gaps = Itl.sortedMs(t == null ? new long[0] : t.gaps(), speed);
        out.printf(
            Locale.ROOT,
            "%d,%.1f,%.1f,%.1f,%s,%d,%d,%d,%s,%d,%.1f,%.1f,%.1f%n",
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
            gaps.length == 0 ? -1 : gaps[gaps.length - 1]);
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
