package io.kvgate.gateway.index;

import java.time.Duration;
import java.util.function.BooleanSupplier;

/** Deadline polling for an effect on another thread (a stream's end seen by the server). */
final class TestWait {
  private TestWait() {}

  static void until(String what, BooleanSupplier condition) {
    long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
    while (!condition.getAsBoolean()) {
      if (System.nanoTime() > deadline) throw new AssertionError("not within 10 s: " + what);
      java.util.concurrent.locks.LockSupport.parkNanos(Duration.ofMillis(5).toNanos());
    }
  }
}
