package io.kvgate.gateway.log;

import static org.junit.jupiter.api.Assertions.*;

import io.kvgate.gateway.LogLines;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import java.util.logging.Level;
import java.util.logging.Logger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Per category, at most the configured lines per interval; the rest counted and summarized. */
class LogLimiterTest {

  final Logger logger = Logger.getLogger("kvgate.test.limiter");
  final LogLines capture = new LogLines();
  final List<String> lines = capture.lines();

  @BeforeEach
  void attach() {
    logger.setUseParentHandlers(false);
    logger.addHandler(capture);
  }

  @AfterEach
  void detach() {
    logger.removeHandler(capture);
    logger.setUseParentHandlers(true);
  }

  @Test
  void eachCategoryPrintsItsLinesThenCountsTheRest() {
    AtomicLong suppressed = new AtomicLong();
    LogLimiter l = new LogLimiter(3, Duration.ofHours(1), (c, n) -> suppressed.addAndGet(n));
    int[] built = {0};
    for (int i = 0; i < 100; i++) {
      int n = i;
      l.log(
          logger,
          Level.WARNING,
          "a",
          () -> {
            built[0]++;
            return "a " + n;
          });
    }
    for (int i = 0; i < 2; i++) l.log(logger, Level.WARNING, "b", () -> "b");
    l.flush();
    assertEquals(List.of("a 0", "a 1", "a 2", "b", "b"), lines, "the interval has not ended");
    assertEquals(97, suppressed.get());
    assertEquals(3, built[0], "a suppressed line's message is never built");
  }

  @Test
  void theEndOfAnIntervalReportsWhatItSuppressed() {
    AtomicLong suppressed = new AtomicLong();
    LogLimiter l = new LogLimiter(1, Duration.ofMillis(1), (c, n) -> suppressed.addAndGet(n));
    l.log(logger, Level.WARNING, "storm", () -> "first");
    l.log(logger, Level.WARNING, "storm", () -> "second");
    l.log(logger, Level.WARNING, "storm", () -> "third");
    long since = System.nanoTime();
    while (System.nanoTime() - since < 2_000_000) Thread.onSpinWait();
    l.flush();
    assertTrue(lines.get(0).equals("first"), lines.toString());
    int printed = (int) lines.stream().filter(s -> !s.contains("suppressed")).count();
    long summarized =
        lines.stream()
            .filter(s -> s.contains("similar message"))
            .mapToLong(s -> Long.parseLong(s.replaceAll("^storm: (\\d+) similar.*", "$1")))
            .sum();
    assertEquals(3, printed + summarized, lines.toString());
    assertEquals(suppressed.get(), summarized);
  }
}
