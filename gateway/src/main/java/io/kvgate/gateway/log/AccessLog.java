package io.kvgate.gateway.log;

import io.kvgate.gateway.config.GatewayConfig;
import io.kvgate.gateway.metrics.GatewayMetrics;
import io.vertx.core.json.JsonObject;
import java.time.Instant;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * The sampled access log ({@code accessLog}): one JSON line per sampled request to the JUL logger
 * {@code kvgate.access}. The event loop only decides the sample and offers the line to a bounded
 * queue ({@link #QUEUE}); one daemon thread drains it into the logger, so a slow log handler (a
 * full disk, a blocked stderr) never blocks a loop: a line that finds the queue full is dropped and
 * counted ({@code kvgate_access_log_dropped_total}).
 *
 * <p>A line holds only what describes the exchange: time, request id, model, path, endpoint,
 * status, attempts, latency, time to first byte and token counts when the engine reported them.
 * Never a header (no API key, no {@code Authorization}), never prompt or completion text.
 */
public final class AccessLog {

  /** The logger the lines go to (route it to its own handler or file in the JUL configuration). */
  public static final String LOGGER = "kvgate.access";

  static final int QUEUE = 4096;
  private static final Logger LOG = Logger.getLogger(LOGGER);

  /** One exchange as the access log describes it; -1 for an unknown number. */
  public record Entry(
      String requestId,
      String model,
      String path,
      String endpoint,
      int status,
      int attempts,
      long latencyNanos,
      long firstByteNanos,
      long promptTokens,
      long completionTokens) {}

  private final GatewayConfig.AccessLog config;
  private final GatewayMetrics metrics;
  private final BlockingQueue<String> queue = new ArrayBlockingQueue<>(QUEUE);
  private final Thread writer;
  private volatile boolean closed;

  public AccessLog(GatewayConfig.AccessLog config, GatewayMetrics metrics) {
    this.config = config;
    this.metrics = metrics;
    if (config.enabled()) {
      writer = new Thread(this::drain, "kvgate-access-log");
      writer.setDaemon(true);
      writer.start();
    } else {
      writer = null;
    }
  }

  public boolean enabled() {
    return writer != null;
  }

  /** Whether an exchange that ended with {@code status} is logged (decided once per exchange). */
  public boolean sampled(int status) {
    if (writer == null) return false;
    if (config.errorsAlways() && (status >= 500 || status == 499)) return true;
    double rate = config.sampleRate();
    return rate >= 1 || rate > 0 && ThreadLocalRandom.current().nextDouble() < rate;
  }

  /** Queues the line of {@code e}; never blocks. */
  public void log(Entry e) {
    if (writer == null || closed) return;
    if (queue.offer(line(e))) metrics.accessLogLine();
    else metrics.accessLogDropped();
  }

  static String line(Entry e) {
    JsonObject j =
        new JsonObject()
            .put("time", Instant.now().toString())
            .put("request_id", e.requestId())
            .put("model", e.model())
            .put("path", e.path())
            .put("endpoint", e.endpoint())
            .put("status", e.status())
            .put("attempts", e.attempts())
            .put("latency_ms", Math.round(e.latencyNanos() / 1e4) / 100.0);
    if (e.firstByteNanos() >= 0) j.put("ttfb_ms", Math.round(e.firstByteNanos() / 1e4) / 100.0);
    if (e.promptTokens() >= 0) j.put("prompt_tokens", e.promptTokens());
    if (e.completionTokens() >= 0) j.put("completion_tokens", e.completionTokens());
    return j.encode();
  }

  private void drain() {
    while (!closed || !queue.isEmpty()) {
      try {
        String line = queue.poll(100, TimeUnit.MILLISECONDS);
        if (line != null) LOG.log(Level.INFO, line);
      } catch (InterruptedException e) {
        if (closed) break;
      } catch (RuntimeException e) {
        // A failing handler must not end the writer; the line is lost.
      }
    }
  }

  /** Stops the writer once the queued lines are written; returns at once. */
  public void close() {
    closed = true;
  }
}
