import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Load driver of bench/large-bodies.sh (JDK only, run as a single source file): closed-loop
 * "normal" chat traffic for a phase, optionally with a burst of large bodies sent at once two
 * seconds in; prints one line of key=value results: the normal requests' p50/p99/max (whole phase
 * and during the burst), their failures, the large bodies' statuses and slowest answer, and the
 * gateway's peak heap in the phase (the largest heap-before-GC in its GC log, and the largest
 * sampled jvm_memory_used_bytes{area="heap"}).
 *
 * <p>Usage: java bench/LargeBodies.java URL MODEL[,BIG_MODEL] SECONDS CLIENTS BURST KIND GC_LOG where
 * KIND is none, tiny-messages (one million tiny messages, ~30 MB: the shape that used to cost ~450
 * MB of heap), upload-only (the same bytes declared text/plain: received, then refused with 415
 * before any parse) or long-prompt (one prompt of 9.9 M characters in 1000 messages, ~10 MB, within
 * every default limit). Large bodies name BIG_MODEL (its own engine), so that what they cost an
 * engine does not reach the normal requests.
 */
public class LargeBodies {

  static final HttpClient HTTP =
      HttpClient.newBuilder()
          .version(HttpClient.Version.HTTP_1_1)
          .connectTimeout(Duration.ofSeconds(30))
          .build();

  public static void main(String[] a) throws Exception {
    String url = a[0];
    String model = a[1].split(",")[0];
    String bigModel = a[1].contains(",") ? a[1].split(",")[1] : model;
    int seconds = Integer.parseInt(a[2]);
    int clients = Integer.parseInt(a[3]);
    int burst = Integer.parseInt(a[4]);
    String kind = a[5];
    Path gcLog = Path.of(a[6]);
    // The gateway's own /metrics (heap, uptime) are on its admin listener.
    String admin = a.length > 7 ? a[7] : url;

    byte[] big = kind.equals("none") ? null : bigBody(bigModel, kind);
    // The same bytes as tiny-messages, declared text/plain: refused with 415 once received, before
    // any parse. What it costs is the cost of receiving and buffering the bodies alone.
    String bigType = kind.equals("upload-only") ? "text/plain" : "application/json";
    double uptimeStart = uptime(admin);
    long t0 = System.nanoTime();
    long end = t0 + seconds * 1_000_000_000L;
    AtomicBoolean running = new AtomicBoolean(true);
    List<long[]> samples = java.util.Collections.synchronizedList(new ArrayList<>()); // {start, nanos}
    AtomicLong failures = new AtomicLong();
    Map<String, String> failureExamples = new ConcurrentHashMap<>();

    List<Thread> threads = new ArrayList<>();
    for (int c = 0; c < clients; c++) {
      int client = c;
      threads.add(
          start(
                  () -> {
                    String system = "You are a careful assistant. ".repeat(60); // ~1.7 KB shared
                    long n = 0;
                    while (System.nanoTime() < end) {
                      String body =
                          "{\"model\":\""
                              + model
                              + "\",\"max_tokens\":8,\"messages\":[{\"role\":\"system\",\"content\":\""
                              + system
                              + "\"},{\"role\":\"user\",\"content\":\"question "
                              + client
                              + "-"
                              + (n++)
                              + " about the weather in a city far away\"}]}";
                      long s = System.nanoTime();
                      try {
                        HttpResponse<String> r = post(url, body.getBytes(StandardCharsets.UTF_8));
                        long e = System.nanoTime();
                        if (r.statusCode() == 200) samples.add(new long[] {s - t0, e - s});
                        else {
                          failures.incrementAndGet();
                          failureExamples.putIfAbsent("" + r.statusCode(), r.body());
                        }
                      } catch (Exception ex) {
                        failures.incrementAndGet();
                        failureExamples.putIfAbsent(ex.getClass().getSimpleName(), "" + ex);
                      }
                    }
                  }));
    }

    // Heap sampling from the gateway's own metrics.
    AtomicLong sampledPeak = new AtomicLong();
    Thread sampler =
        start(
                () -> {
                  while (running.get()) {
                    try {
                      sampledPeak.accumulateAndGet(heapUsed(admin), Math::max);
                      Thread.sleep(50);
                    } catch (Exception ignored) {
                      // a scrape that fails is skipped
                    }
                  }
                });

    Map<Integer, Integer> bigStatuses = new TreeMap<>();
    long[] burstWindow = {-1, -1};
    long bigSlowest = 0;
    if (big != null && burst > 0) {
      Thread.sleep(2000);
      CountDownLatch go = new CountDownLatch(1);
      List<Thread> bigs = new ArrayList<>();
      long[] took = new long[burst];
      int[] status = new int[burst];
      burstWindow[0] = System.nanoTime() - t0;
      for (int i = 0; i < burst; i++) {
        int k = i;
        bigs.add(
            start(
                    () -> {
                      try {
                        go.await();
                        long s = System.nanoTime();
                        status[k] = post(url, big, bigType).statusCode();
                        took[k] = System.nanoTime() - s;
                      } catch (Exception ex) {
                        status[k] = -1;
                      }
                    }));
      }
      go.countDown();
      for (Thread t : bigs) t.join();
      burstWindow[1] = System.nanoTime() - t0 + 1_000_000_000L; // and the second after
      for (int i = 0; i < burst; i++) {
        bigStatuses.merge(status[i], 1, Integer::sum);
        bigSlowest = Math.max(bigSlowest, took[i]);
      }
    }
    for (Thread t : threads) t.join();
    running.set(false);
    sampler.join();
    double uptimeEnd = uptime(admin);

    long[] all = samples.stream().mapToLong(s -> s[1]).sorted().toArray();
    long[] during =
        burstWindow[0] < 0
            ? all
            : samples.stream()
                .filter(s -> s[0] >= burstWindow[0] && s[0] <= burstWindow[1])
                .mapToLong(s -> s[1])
                .sorted()
                .toArray();
    long gcPeak = gcPeakBytes(gcLog, uptimeStart, uptimeEnd);
    System.out.printf(
        java.util.Locale.ROOT,
        "kind=%s burst=%d requests=%d failures=%d p50_ms=%.1f p99_ms=%.1f max_ms=%.1f"
            + " burst_requests=%d burst_p99_ms=%.1f big_statuses=%s big_slowest_ms=%.0f"
            + " peak_heap_gc_mb=%d peak_heap_sampled_mb=%d%n",
        kind,
        big == null ? 0 : burst,
        all.length,
        failures.get(),
        pct(all, 50),
        pct(all, 99),
        all.length == 0 ? 0 : all[all.length - 1] / 1e6,
        during.length,
        pct(during, 99),
        bigStatuses.toString().replace(" ", ""),
        bigSlowest / 1e6,
        gcPeak >> 20,
        sampledPeak.get() >> 20);
    if (!failureExamples.isEmpty()) System.err.println("failures: " + failureExamples);
  }

  static Thread start(Runnable r) {
    Thread t = new Thread(r);
    t.start();
    return t;
  }

  static double pct(long[] sorted, int p) {
    if (sorted.length == 0) return 0;
    int i = (int) Math.ceil(p / 100.0 * sorted.length) - 1;
    return sorted[Math.max(0, Math.min(sorted.length - 1, i))] / 1e6;
  }

  static HttpResponse<String> post(String url, byte[] body) throws Exception {
    return post(url, body, "application/json");
  }

  static HttpResponse<String> post(String url, byte[] body, String type) throws Exception {
    return HTTP.send(
        HttpRequest.newBuilder(URI.create(url + "/v1/chat/completions"))
            .timeout(Duration.ofSeconds(300))
            .header("content-type", type)
            .POST(HttpRequest.BodyPublishers.ofByteArray(body))
            .build(),
        HttpResponse.BodyHandlers.ofString());
  }

  static byte[] bigBody(String model, String kind) {
    StringBuilder b = new StringBuilder(31_000_000);
    b.append("{\"model\":\"").append(model).append("\",\"max_tokens\":1,\"messages\":[");
    if (kind.equals("tiny-messages") || kind.equals("upload-only")) {
      for (int i = 0; i < 1_000_000; i++) {
        if (i > 0) b.append(',');
        b.append("{\"role\":\"user\",\"content\":\"x\"}");
      }
    } else if (kind.equals("long-prompt")) {
      String content = "lorem ipsum dolor sit amet ".repeat(400).substring(0, 9_900);
      for (int i = 0; i < 1000; i++) {
        if (i > 0) b.append(',');
        b.append("{\"role\":\"user\",\"content\":\"").append(i).append(content).append("\"}");
      }
    } else {
      throw new IllegalArgumentException("kind: none, tiny-messages or long-prompt");
    }
    return b.append("]}").toString().getBytes(StandardCharsets.UTF_8);
  }

  static String metrics(String url) throws Exception {
    for (int attempt = 1; ; attempt++) {
      try {
        return HTTP.send(
                HttpRequest.newBuilder(URI.create(url + "/metrics"))
                    .timeout(Duration.ofSeconds(30))
                    .build(),
                HttpResponse.BodyHandlers.ofString())
            .body();
      } catch (java.io.IOException e) {
        if (attempt == 3) throw e;
      }
    }
  }

  static double uptime(String url) throws Exception {
    Matcher m = Pattern.compile("(?m)^process_uptime_seconds\\S* (\\S+)").matcher(metrics(url));
    return m.find() ? Double.parseDouble(m.group(1)) : 0;
  }

  static long heapUsed(String url) throws Exception {
    Matcher m =
        Pattern.compile("(?m)^jvm_memory_used_bytes\\{area=\"heap\"[^}]*\\} (\\S+)")
            .matcher(metrics(url));
    double sum = 0;
    while (m.find()) sum += Double.parseDouble(m.group(1));
    return (long) sum;
  }

  /** The largest heap-before-GC of the pauses logged between two uptimes (-Xlog:gc). */
  static long gcPeakBytes(Path log, double from, double to) throws Exception {
    if (!Files.exists(log)) return 0;
    Pattern line = Pattern.compile("^\\[(\\d+\\.\\d+)s\\].*?(\\d+)M->(\\d+)M\\((\\d+)M\\)");
    long peak = 0;
    for (String l : Files.readAllLines(log)) {
      Matcher m = line.matcher(l);
      if (!m.find()) continue;
      double t = Double.parseDouble(m.group(1));
      if (t < from || t > to) continue;
      peak = Math.max(peak, Long.parseLong(m.group(2)) << 20);
    }
    return peak;
  }
}
