import io.kvgate.gateway.Gateway;
import io.kvgate.gateway.config.GatewayConfig;
import io.kvgate.gateway.index.IndexHealth;
import io.kvgate.replay.HashIdText;
import io.kvgate.replay.MultiTenantWorkload;
import io.kvgate.replay.TraceReader;
import io.kvgate.replay.TraceRecord;
import io.kvgate.sim.KvEventPublisher;
import io.kvgate.sim.SimEngine;
import io.kvgate.sim.SimEngineConfig;
import io.kvgate.sim.SimFleet;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Flow;
import java.util.concurrent.TimeUnit;

/**
 * Driver of bench/kv-events.sh: one cell of precise (engines publish KV events) against
 * approximate (kvgate's own routing decisions) prefix routing, in one JVM: a simulated fleet, a
 * gateway, and an open-loop client replaying a workload, a share of it sent straight to a random
 * engine (other clients of the same engines, which only the events reveal). Optionally engine 0 is
 * restarted mid-run (cache emptied).
 *
 * <p>Usage: java -cp kvgate.jar bench/KvEvents.java key=value ... with workload=multitenant|PATH
 * (a Mooncake trace), mode=approximate|precise, policy=cache-aware, replicas=4, capacity=BLOCKS,
 * speed=S (simulated time runs S times faster), rate=X (arrivals X times the trace's), limit=N,
 * direct=SHARE, maxModelLen=TOKENS (131072), restart=SECONDS (simulated; -1 = none), seed=N, maxOutput=TOKENS.
 *
 * <p>Prints one line of key=value: engine-counted hit rate over all requests (cached / prompt
 * tokens as the engines report them in usage), TTFT p50/p99 of gateway-routed requests (simulated
 * ms), errors; with a restart, the gateway-routed requests sent to engine 0 in the minute after it
 * that were priced on a phantom hit (predicted cached tokens above the engine's report by a block
 * or more), the last one's delay after the restart (simulated and wall ms), and engine 0's hit rate
 * in the minute before and after; for precise cells, the index's blocks against the engines' own
 * count at the end.
 */
public final class KvEvents {

  record Result(
      boolean direct,
      String endpoint,
      long sentNanos,
      long ttftNanos,
      long prompt,
      long cached,
      long predicted,
      boolean ok) {}

  public static void main(String[] args) throws Exception {
    Map<String, String> a = new HashMap<>();
    for (String s : args) {
      int eq = s.indexOf('=');
      a.put(s.substring(0, eq), s.substring(eq + 1));
    }
    String workload = a.getOrDefault("workload", "multitenant");
    boolean precise = a.getOrDefault("mode", "approximate").equals("precise");
    String policy = a.getOrDefault("policy", "cache-aware");
    int replicas = Integer.parseInt(a.getOrDefault("replicas", "4"));
    int capacity = Integer.parseInt(a.getOrDefault("capacity", "2048"));
    double speed = Double.parseDouble(a.getOrDefault("speed", "5"));
    double rate = Double.parseDouble(a.getOrDefault("rate", "1"));
    int limit = Integer.parseInt(a.getOrDefault("limit", "600"));
    double directShare = Double.parseDouble(a.getOrDefault("direct", "0"));
    double restartAt = Double.parseDouble(a.getOrDefault("restart", "-1"));
    long seed = Long.parseLong(a.getOrDefault("seed", "1"));
    int maxOutput = Integer.parseInt(a.getOrDefault("maxOutput", "64"));

    List<TraceRecord> trace =
        workload.equals("multitenant")
            ? MultiTenantWorkload.generate(MultiTenantWorkload.Params.defaults().withSeed(seed))
                .records()
            : TraceReader.read(Path.of(workload), 0);
    trace = trace.subList(0, Math.min(limit, trace.size()));
    HashIdText text = new HashIdText(4);
    String model = "kvgate-sim-8b";

    Vertx vertx = Vertx.vertx();
    SimEngineConfig engine =
        SimEngineConfig.builder()
            .model(model)
            .capacityBlocks(capacity)
            .maxModelLen(Integer.parseInt(a.getOrDefault("maxModelLen", "131072")))
            .speed(speed)
            .build();
    SimFleet fleet = await(SimFleet.start(vertx, engine, replicas, 0));
    GatewayConfig config =
        GatewayConfig.of(model, fleet.urls(), policy)
            .withListener(new GatewayConfig.Listener("127.0.0.1", 0))
            .withAdmin(new GatewayConfig.Admin(true, "127.0.0.1", 0));
    if (precise) config = config.withGrpc(new GatewayConfig.Grpc(true, "127.0.0.1", 0, null));
    Gateway gateway = await(Gateway.start(vertx, config));
    List<KvEventPublisher> publishers = new ArrayList<>();
    if (precise) {
      for (SimEngine e : fleet.engines()) {
        publishers.add(e.publishKvEvents("127.0.0.1:" + gateway.grpcPort(), null));
      }
      for (KvEventPublisher p : publishers) await(p.firstAck());
    }
    String gatewayUrl = "http://127.0.0.1:" + gateway.port();
    String engine0 = gateway.route(model).endpoints().get(0).id();

    HttpClient http =
        HttpClient.newBuilder()
            .version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(10))
            .build();
    SplittableRandom rnd = new SplittableRandom(seed * 31 + 7);
    ConcurrentLinkedQueue<Result> results = new ConcurrentLinkedQueue<>();
    List<CompletableFuture<Void>> inflight = new ArrayList<>();
    long t0 = System.nanoTime();
    long first = trace.get(0).timestampMs();
    long restartNanos = restartAt < 0 ? -1 : (long) (restartAt * 1e9 / speed);
    boolean restarted = false;
    CompletableFuture<Long> restartDone = new CompletableFuture<>();
    for (TraceRecord rec : trace) {
      long due = (long) ((rec.timestampMs() - first) * 1e6 / speed / rate);
      if (!restarted && restartNanos >= 0 && due >= restartNanos) {
        sleepUntil(t0 + restartNanos);
        restarted = true;
        long at = System.nanoTime();
        fleet
            .engines()
            .get(0)
            .restart()
            .onComplete(ar -> restartDone.complete(ar.succeeded() ? at : -1L));
      }
      sleepUntil(t0 + due);
      boolean direct = rnd.nextDouble() < directShare;
      String base = direct ? fleet.urls().get(rnd.nextInt(replicas)) : gatewayUrl;
      String body =
          new JsonObject()
              .put("model", model)
              .put("prompt", text.prompt(rec))
              .put("max_tokens", Math.max(1, Math.min(maxOutput, rec.outputLength())))
              .put("stream", true)
              .put("stream_options", new JsonObject().put("include_usage", true))
              .encode();
      inflight.add(send(http, base, body, direct, results));
    }
    for (CompletableFuture<Void> f : inflight) {
      try {
        f.get(10, TimeUnit.MINUTES);
      } catch (Exception ignored) {
        // counted as an error
      }
    }
    long restartAtNanos = restarted ? restartDone.get(30, TimeUnit.SECONDS) : -1;

    StringBuilder out = new StringBuilder();
    out.append(
        String.format(
            Locale.ROOT,
            "workload=%s mode=%s policy=%s direct=%.2f capacity=%d rate=%.2f seed=%d requests=%d",
            workload.contains("/") ? Path.of(workload).getFileName() : workload,
            precise ? "precise" : "approximate",
            policy,
            directShare,
            capacity,
            rate,
            seed,
            results.size()));
    long prompt = 0;
    long cached = 0;
    int errors = 0;
    List<Long> ttft = new ArrayList<>();
    for (Result r : results) {
      if (!r.ok()) {
        errors++;
        continue;
      }
      prompt += r.prompt();
      cached += r.cached();
      if (!r.direct()) ttft.add(r.ttftNanos());
    }
    long[] t = ttft.stream().mapToLong(Long::longValue).sorted().toArray();
    out.append(
        String.format(
            Locale.ROOT,
            " hit_rate=%.4f ttft_p50_ms=%.0f ttft_p99_ms=%.0f errors=%d",
            prompt == 0 ? 0 : (double) cached / prompt,
            pct(t, 0.5) * speed / 1e6,
            pct(t, 0.99) * speed / 1e6,
            errors));
    if (restartAtNanos > 0) {
      long minute = (long) (60e9 / speed);
      int phantoms = 0;
      int after = 0;
      long last = -1;
      long p0 = 0, c0 = 0, p1 = 0, c1 = 0;
      for (Result r : results) {
        if (!r.ok() || !engine0.equals(r.endpoint())) continue;
        long dt = r.sentNanos() - restartAtNanos;
        if (dt >= -minute && dt < 0) {
          p0 += r.prompt();
          c0 += r.cached();
        }
        if (dt >= 0 && dt < minute) {
          p1 += r.prompt();
          c1 += r.cached();
          if (!r.direct()) {
            after++;
            if (r.predicted() >= r.cached() + engine.blockSizeTokens()) {
              phantoms++;
              last = Math.max(last, dt);
            }
          }
        }
      }
      out.append(
          String.format(
              Locale.ROOT,
              " routed_to_restarted_1min=%d phantom_priced=%d last_phantom_ms=%.0f last_phantom_wall_ms=%.0f engine0_hit_before=%.3f engine0_hit_after=%.3f",
              after,
              phantoms,
              last < 0 ? 0 : last * speed / 1e6,
              last < 0 ? 0 : last / 1e6,
              p0 == 0 ? 0 : (double) c0 / p0,
              p1 == 0 ? 0 : (double) c1 / p1));
    }
    if (precise) {
      long index = 0;
      long engines = 0;
      long resets = 0;
      for (IndexHealth.Engine e : gateway.indexHealth().engines()) {
        index += e.indexBlocks();
        engines += Math.max(0, e.engineCachedBlocks());
        resets += e.resets();
      }
      out.append(
          String.format(
              Locale.ROOT, " index_blocks=%d engine_cached_blocks=%d resets=%d", index, engines, resets));
    } else {
      long resets = 0;
      for (IndexHealth.Engine e : gateway.indexHealth().engines()) resets += e.resets();
      out.append(" resets=").append(resets);
    }
    System.out.println(out);
    for (KvEventPublisher p : publishers) await(p.close());
    await(gateway.close());
    await(fleet.close());
    await(vertx.close());
    System.exit(0);
  }

  static CompletableFuture<Void> send(
      HttpClient http,
      String base,
      String body,
      boolean direct,
      ConcurrentLinkedQueue<Result> results) {
    long sent = System.nanoTime();
    long[] firstToken = {-1};
    JsonObject[] usage = {null};
    HttpRequest req =
        HttpRequest.newBuilder(URI.create(base + "/v1/completions"))
            .timeout(Duration.ofMinutes(5))
            .header("content-type", "application/json")
            .POST(HttpRequest.BodyPublishers.ofString(body))
            .build();
    Flow.Subscriber<String> lines =
        new Flow.Subscriber<>() {
          @Override
          public void onSubscribe(Flow.Subscription s) {
            s.request(Long.MAX_VALUE);
          }

          @Override
          public void onNext(String line) {
            if (!line.startsWith("data: ") || line.equals("data: [DONE]")) return;
            JsonObject chunk = new JsonObject(line.substring(6));
            if (firstToken[0] < 0
                && chunk.getJsonArray("choices") != null
                && !chunk.getJsonArray("choices").isEmpty()) {
              firstToken[0] = System.nanoTime();
            }
            if (chunk.getJsonObject("usage") != null) usage[0] = chunk.getJsonObject("usage");
          }

          @Override
          public void onError(Throwable t) {}

          @Override
          public void onComplete() {}
        };
    return http.sendAsync(req, HttpResponse.BodyHandlers.fromLineSubscriber(lines))
        .handle(
            (resp, err) -> {
              boolean ok = err == null && resp.statusCode() == 200 && usage[0] != null;
              long prompt = ok ? usage[0].getLong("prompt_tokens", 0L) : 0;
              JsonObject details = ok ? usage[0].getJsonObject("prompt_tokens_details") : null;
              long cached = details == null ? 0 : details.getLong("cached_tokens", 0L);
              String endpoint =
                  err != null
                      ? null
                      : direct
                          ? URI.create(base).getHost() + ":" + URI.create(base).getPort()
                          : resp.headers().firstValue("x-kvgate-endpoint").orElse(null);
              long predicted =
                  err != null
                      ? 0
                      : Long.parseLong(
                          resp.headers().firstValue("x-kvgate-predicted-cached-tokens").orElse("0"));
              results.add(
                  new Result(
                      direct,
                      endpoint,
                      sent,
                      firstToken[0] < 0 ? 0 : firstToken[0] - sent,
                      prompt,
                      cached,
                      predicted,
                      ok));
              return null;
            });
  }

  static double pct(long[] sorted, double q) {
    if (sorted.length == 0) return 0;
    return sorted[Math.min(sorted.length - 1, (int) Math.ceil(q * sorted.length) - 1)];
  }

  static void sleepUntil(long nanos) throws InterruptedException {
    long d = nanos - System.nanoTime();
    if (d > 0) TimeUnit.NANOSECONDS.sleep(d);
  }

  static <T> T await(Future<T> f) throws Exception {
    return f.toCompletionStage().toCompletableFuture().get(60, TimeUnit.SECONDS);
  }
}
