package io.kvgate.testsupport;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import java.util.logging.SimpleFormatter;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

/**
 * Collects the warnings of Vert.x's blocked-thread checker, each with the blocked thread's stack.
 *
 * <p>Vert.x ({@code io.vertx.core.internal.threadchecker.BlockedThreadChecker}) logs "Thread NAME
 * has been blocked for N ms, time limit is M ms" on the logger {@value #LOGGER_NAME} when an event
 * loop runs one task longer than {@code VertxOptions.maxEventLoopExecuteTime} (a worker thread:
 * {@code maxWorkerExecuteTime}). It attaches the stack only past {@code warningExceptionTime} (5 s
 * by default), so the handler takes the stack itself: the checker logs from its own timer thread
 * while the blocked thread is still blocked.
 *
 * <p>This listens through java.util.logging, which is what Vert.x logs to while no SLF4J binding or
 * Log4j 2 is on the classpath (the case in every kvgate module). With another backend it would see
 * nothing: {@code BlockedThreadDetectorTest} catches that for this module's classpath.
 */
public final class BlockedThreadDetector implements AutoCloseable {

  /** {@code BlockedThreadChecker.LOGGER_NAME} in vertx-core 5. */
  public static final String LOGGER_NAME = "io.vertx.core.impl.BlockedThreadChecker";

  private static final Pattern THREAD = Pattern.compile("^Thread (.+?) has been blocked for ");
  private static final int FRAMES = 12;

  // Held so that the JUL logger, and with it the handler, is not garbage collected.
  private final Logger logger;
  private final Handler handler;
  private final List<String> reports = new ArrayList<>();

  private BlockedThreadDetector() {
    logger = Logger.getLogger(LOGGER_NAME);
    handler =
        new Handler() {
          @Override
          public void publish(LogRecord record) {
            if (record.getLevel().intValue() >= Level.WARNING.intValue()) record(record);
          }

          @Override
          public void flush() {}

          @Override
          public void close() {}
        };
    logger.addHandler(handler);
  }

  /** Starts listening; {@link #close()} stops. */
  public static BlockedThreadDetector install() {
    return new BlockedThreadDetector();
  }

  /** The reports since the last call, oldest first, and forgets them. */
  public synchronized List<String> drain() {
    List<String> out = List.copyOf(reports);
    reports.clear();
    return out;
  }

  /** Waits until there is a report (without taking it); false when none came in time. */
  public synchronized boolean awaitReport(Duration timeout) throws InterruptedException {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (reports.isEmpty()) {
      long left = deadline - System.nanoTime();
      if (left <= 0) return false;
      wait(Math.max(1, left / 1_000_000));
    }
    return true;
  }

  @Override
  public void close() {
    logger.removeHandler(handler);
  }

  private void record(LogRecord record) {
    String message = new SimpleFormatter().formatMessage(record);
    StringBuilder report = new StringBuilder(message);
    if (record.getThrown() != null) {
      appendFrames(report, record.getThrown().getStackTrace());
    } else {
      Matcher m = THREAD.matcher(message);
      String name = m.find() ? m.group(1) : null;
      // Every Vertx instance names its threads alike: show each live thread of that name.
      for (Map.Entry<Thread, StackTraceElement[]> e : Thread.getAllStackTraces().entrySet()) {
        if (e.getKey().getName().equals(name)) {
          report.append("\n  stack of ").append(e.getKey()).append(':');
          appendFrames(report, e.getValue());
        }
      }
    }
    synchronized (this) {
      reports.add(report.toString());
      notifyAll();
    }
  }

  private static void appendFrames(StringBuilder report, StackTraceElement[] frames) {
    report.append(
        Arrays.stream(frames)
            .limit(FRAMES)
            .map(f -> "\n\tat " + f)
            .collect(Collectors.joining("", "", frames.length > FRAMES ? "\n\t..." : "")));
  }
}
