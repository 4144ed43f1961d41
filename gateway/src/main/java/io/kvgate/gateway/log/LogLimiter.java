package io.kvgate.gateway.log;

import io.kvgate.routing.config.ConfigNode;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.ObjLongConsumer;
import java.util.function.Supplier;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;

/**
 * Bounds the log lines of the request path: per category ({@code upstream}, {@code health}, {@code
 * policy}, ...), at most {@code maxLines} lines per {@code interval}; the lines beyond are counted
 * (the {@code onSuppressed} callback, {@code kvgate_log_suppressed_total}) and reported as one line
 * "K similar messages suppressed in the last T" when the interval ends (at the category's next
 * line, or at {@link #flush}, which the gateway runs every interval). An error storm thus prints at
 * most {@code maxLines + 1} lines per category and interval, whatever its rate. Thread-safe; the
 * message of a suppressed line is never built.
 */
public final class LogLimiter {

  private final int maxLines;
  private final long intervalNanos;
  private final String intervalText;
  private final ObjLongConsumer<String> onSuppressed;
  private final Map<String, Category> categories = new ConcurrentHashMap<>();

  /** One category's current interval; guarded by its own monitor. */
  private static final class Category {
    final Logger logger;
    long startNanos;
    int lines;
    long suppressed;

    Category(Logger logger, long now) {
      this.logger = logger;
      this.startNanos = now;
    }
  }

  /**
   * @param maxLines lines printed per category and interval (0 prints none, only the summaries)
   * @param interval the interval
   * @param onSuppressed told (category, 1) for each line suppressed
   */
  public LogLimiter(int maxLines, Duration interval, ObjLongConsumer<String> onSuppressed) {
    if (maxLines < 0) throw new IllegalArgumentException("maxLines must be >= 0");
    if (interval.isNegative() || interval.isZero())
      throw new IllegalArgumentException("interval must be > 0");
    this.maxLines = maxLines;
    this.intervalNanos = interval.toNanos();
    this.intervalText = ConfigNode.formatDuration(interval);
    this.onSuppressed = onSuppressed;
  }

  /** The default bound ({@code logging} defaults: 10 lines per category per 10 s). */
  public static LogLimiter defaults(ObjLongConsumer<String> onSuppressed) {
    return new LogLimiter(10, Duration.ofSeconds(10), onSuppressed);
  }

  /** Logs {@code message} to {@code logger} unless {@code category} has used its lines. */
  public void log(Logger logger, Level level, String category, Supplier<String> message) {
    log(logger, level, category, message, null);
  }

  /** As {@link #log(Logger, Level, String, Supplier)}, with a throwable. */
  public void log(
      Logger logger, Level level, String category, Supplier<String> message, Throwable thrown) {
    if (!logger.isLoggable(level)) return;
    long now = System.nanoTime();
    Category c = categories.computeIfAbsent(category, k -> new Category(logger, now));
    long summary;
    boolean print;
    synchronized (c) {
      summary = roll(c, now);
      print = c.lines < maxLines;
      if (print) c.lines++;
      else c.suppressed++;
    }
    if (summary > 0) summarize(c.logger, category, summary);
    if (print) {
      emit(logger, level, message.get(), thrown);
    } else {
      onSuppressed.accept(category, 1);
    }
  }

  /** Reports the suppressed lines of every category whose interval has ended. */
  public void flush() {
    long now = System.nanoTime();
    categories.forEach(
        (name, c) -> {
          long summary;
          synchronized (c) {
            summary = roll(c, now);
          }
          if (summary > 0) summarize(c.logger, name, summary);
        });
  }

  /** Starts a new interval if the current one ended; returns the lines it suppressed. */
  private long roll(Category c, long now) {
    if (now - c.startNanos < intervalNanos) return 0;
    long suppressed = c.suppressed;
    c.startNanos = now;
    c.lines = 0;
    c.suppressed = 0;
    return suppressed;
  }

  /** Logs under the logger's own name as its source (not this class's). */
  private static void emit(Logger logger, Level level, String message, Throwable thrown) {
    LogRecord r = new LogRecord(level, message);
    r.setLoggerName(logger.getName());
    r.setSourceClassName(logger.getName());
    r.setSourceMethodName("");
    r.setThrown(thrown);
    logger.log(r);
  }

  private void summarize(Logger logger, String category, long suppressed) {
    emit(
        logger,
        Level.WARNING,
        category
            + ": "
            + suppressed
            + " similar message"
            + (suppressed == 1 ? "" : "s")
            + " suppressed in the last "
            + intervalText
            + " (logging.maxLinesPerInterval)",
        null);
  }
}
