package io.kvgate.gateway.health;

import static org.junit.jupiter.api.Assertions.*;

import java.time.Duration;
import org.junit.jupiter.api.Test;

/** The error-rate window counts the last window's outcomes and forgets older ones. */
class ErrorWindowTest {

  static final long MS = 1_000_000L;

  @Test
  void sharesSlideWithTheWindow() {
    ErrorWindow w = new ErrorWindow(Duration.ofSeconds(1));
    long t0 = 5_000 * MS;
    for (int i = 0; i < 7; i++) w.record(true, t0 + i * MS);
    for (int i = 0; i < 3; i++) w.record(false, t0 + 50 * MS);
    assertEquals(10, w.requests(t0 + 100 * MS));
    assertEquals(3, w.failures(t0 + 100 * MS));
    assertEquals(0.3, w.failedShare(t0 + 100 * MS), 1e-9);
    // Half a window later the same outcomes still count; one more failure is added.
    w.record(false, t0 + 600 * MS);
    assertEquals(4, w.failures(t0 + 600 * MS));
    assertEquals(11, w.requests(t0 + 600 * MS));
    // A window after the first outcomes only the late failure is left.
    assertEquals(1, w.requests(t0 + 1_100 * MS));
    assertEquals(1.0, w.failedShare(t0 + 1_100 * MS), 1e-9);
    // Two windows later nothing is left.
    assertEquals(0, w.requests(t0 + 2_000 * MS));
    assertEquals(0, w.failedShare(t0 + 2_000 * MS));
    w.record(false, t0 + 2_000 * MS);
    w.clear();
    assertEquals(0, w.requests(t0 + 2_000 * MS));
  }
}
