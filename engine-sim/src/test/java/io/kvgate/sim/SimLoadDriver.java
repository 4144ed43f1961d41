package io.kvgate.sim;

import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpClient;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.PoolOptions;
import io.vertx.core.http.RequestOptions;
import java.lang.management.ManagementFactory;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Load driver: keeps {@code streams} streaming chat requests open against an in-JVM fleet of {@code
 * engines} simulated engines for {@code seconds}, then compares the tokens generated with the ideal
 * the compute model allows and reports process CPU. Client and engines share the JVM, so the CPU
 * figure is an upper bound for the engines.
 *
 * <pre>
 * java -cp ... io.kvgate.sim.SimLoadDriver [engines=8] [streams=500] [seconds=20] [maxTokens=200] [speed=1]
 * </pre>
 */
public final class SimLoadDriver {

  public static void main(String[] args) throws Exception {
    int engines = args.length > 0 ? Integer.parseInt(args[0]) : 8;
    int streams = args.length > 1 ? Integer.parseInt(args[1]) : 500;
    int seconds = args.length > 2 ? Integer.parseInt(args[2]) : 20;
    int maxTokens = args.length > 3 ? Integer.parseInt(args[3]) : 200;
    double speed = args.length > 4 ? Double.parseDouble(args[4]) : 1;
    SimEngineConfig config = SimEngineConfig.builder().speed(speed).build();
    Vertx vertx = Vertx.vertx();
    SimFleet fleet = SimFleet.start(vertx, config, engines, 0).await(30, TimeUnit.SECONDS);
    // one client per engine, each with room for every stream: the driver must not be the queue
    // -Dsim.sharedClient=true: one client for all engines (as a gateway would have)
    boolean shared = Boolean.getBoolean("sim.sharedClient");
    int eventLoops = Integer.getInteger("sim.clientEventLoops", 4);
    List<HttpClient> clients = new java.util.ArrayList<>();
    for (int i = 0; i < (shared ? 1 : engines); i++) {
      clients.add(
          vertx.createHttpClient(
              new HttpClientOptions().setKeepAlive(true),
              new PoolOptions().setHttp1MaxSize(streams).setEventLoopSize(eventLoops)));
    }
    List<SimEngine> es = fleet.engines();
    AtomicLong completed = new AtomicLong();
    AtomicLong failed = new AtomicLong();
    AtomicLong ttftNanosSum = new AtomicLong();
    AtomicLong ttftCount = new AtomicLong();
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds + 3);
    String system = "You are a helpful assistant. Answer concisely and cite sources. ".repeat(10);
    for (int i = 0; i < streams; i++) {
      int slot = i;
      runStream(
          vertx,
          clients.get(shared ? 0 : i % engines),
          es.get(i % engines),
          system,
          slot,
          maxTokens,
          deadline,
          completed,
          failed,
          ttftNanosSum,
          ttftCount);
    }
    // warm-up 3 s, then measure
    Promise<Void> warm = Promise.promise();
    vertx.setTimer(3000, t -> warm.complete());
    warm.future().await();
    long gen0 = es.stream().mapToLong(e -> e.stats().generationTokens()).sum();
    long ttft0 = ttftNanosSum.get(), ttftN0 = ttftCount.get();
    var os =
        (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();
    long cpu0 = os.getProcessCpuTime();
    long t0 = System.nanoTime();
    long sampler =
        vertx.setPeriodic(
            2000,
            t ->
                System.out.printf(
                    Locale.ROOT,
                    "  t=%.0fs running=%d waiting=%d kv=%.2f%n",
                    (System.nanoTime() - t0) / 1e9,
                    es.stream().mapToInt(e -> e.stats().running()).sum(),
                    es.stream().mapToInt(e -> e.stats().waiting()).sum(),
                    es.stream().mapToDouble(e -> e.stats().kvCacheUsage()).max().orElse(0)));
    Promise<Void> done = Promise.promise();
    vertx.setTimer(seconds * 1000L, t -> done.complete());
    done.future().await();
    long t1 = System.nanoTime();
    vertx.cancelTimer(sampler);
    long cpu1 = os.getProcessCpuTime();
    long gen1 = es.stream().mapToLong(e -> e.stats().generationTokens()).sum();
    int running = es.stream().mapToInt(e -> e.stats().running()).sum();
    double wall = (t1 - t0) / 1e9;
    double tokPerS = (gen1 - gen0) / wall;
    // Ideal: every running sequence gets one token per step; a step lasts the longer of its compute
    // (its tokens at prefill throughput) and its memory time (the weights, plus the KV of every
    // sequence's context: the prompt and, on average, half of max_tokens).
    double perEngine = (double) streams / engines;
    int promptTokens =
        PromptTokenizer.countTokens(
            "<|im_start|>system\n"
                + system
                + "<|im_end|>\n<|im_start|>user\nquestion 123 at 1234567890123<|im_end|>\n"
                + "<|im_start|>assistant\n");
    double memoryS =
        config.decodeStepTime().toNanos() / 1e9
            + perEngine * (promptTokens + maxTokens / 2.0) / config.kvReadTokensPerSecond();
    double stepS = Math.max(memoryS, perEngine / config.prefillTokensPerSecond());
    double ideal = streams / stepS * speed;
    double cores = Runtime.getRuntime().availableProcessors();
    double cpuPct = (cpu1 - cpu0) / 1e9 / wall / cores * 100;
    long n = ttftCount.get() - ttftN0;
    System.out.printf(
        Locale.ROOT,
        "engines=%d streams=%d maxTokens=%d speed=%.1f window=%.1fs%n"
            + "generated %.0f tok/s (ideal decode-bound %.0f tok/s, %.1f%%)%n"
            + "running at end=%d completed streams=%d failed=%d mean wall TTFT=%.1f ms (n=%d)%n"
            + "process CPU %.1f%% of %d cores (client + engines in one JVM)%n",
        engines,
        streams,
        maxTokens,
        speed,
        wall,
        tokPerS,
        ideal,
        100 * tokPerS / ideal,
        running,
        completed.get(),
        failed.get(),
        n == 0 ? 0 : (ttftNanosSum.get() - ttft0) / 1e6 / n,
        n,
        cpuPct,
        (int) cores);
    var threads = ManagementFactory.getThreadMXBean();
    StringBuilder top = new StringBuilder("busiest threads (CPU s):");
    java.util.Arrays.stream(threads.getAllThreadIds())
        .boxed()
        .map(id -> java.util.Map.entry(id, threads.getThreadCpuTime(id)))
        .sorted((a, b) -> Long.compare(b.getValue(), a.getValue()))
        .limit(6)
        .forEach(
            en ->
                top.append(
                    String.format(
                        Locale.ROOT,
                        " %s=%.1f",
                        threads.getThreadInfo(en.getKey()).getThreadName(),
                        en.getValue() / 1e9)));
    System.out.println(top);
    for (HttpClient c : clients) c.close().await();
    fleet.close().await();
    vertx.close().await();
  }

  private static void runStream(
      Vertx vertx,
      HttpClient client,
      SimEngine e,
      String system,
      int slot,
      int maxTokens,
      long deadline,
      AtomicLong completed,
      AtomicLong failed,
      AtomicLong ttftSum,
      AtomicLong ttftN) {
    if (System.nanoTime() > deadline) return;
    String body =
        "{\"model\":\""
            + e.config().model()
            + "\",\"stream\":true,\"max_tokens\":"
            + maxTokens
            + ",\"messages\":[{\"role\":\"system\",\"content\":\""
            + system
            + "\"},{\"role\":\"user\",\"content\":\"question "
            + slot
            + " at "
            + System.nanoTime()
            + "\"}]}";
    long start = System.nanoTime();
    client
        .request(
            new RequestOptions()
                .setMethod(HttpMethod.POST)
                .setHost("127.0.0.1")
                .setPort(e.port())
                .setURI("/v1/chat/completions"))
        .compose(req -> req.putHeader("content-type", "application/json").send(body))
        .compose(
            resp -> {
              boolean[] first = {true};
              resp.handler(
                  b -> {
                    if (first[0]) {
                      first[0] = false;
                      ttftSum.addAndGet(System.nanoTime() - start);
                      ttftN.incrementAndGet();
                    }
                  });
              return resp.end();
            })
        .onComplete(
            ar -> {
              if (ar.succeeded()) completed.incrementAndGet();
              else failed.incrementAndGet();
              runStream(
                  vertx, client, e, system, slot, maxTokens, deadline, completed, failed, ttftSum,
                  ttftN);
            });
  }
}
