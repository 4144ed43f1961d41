package io.kvgate.gateway.proxy;

import static org.junit.jupiter.api.Assertions.*;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The deadline sweep: what is due runs once, what is not waits, cancelled never runs. */
class DeadlinesTest {

  @Test
  void dueDeadlinesRunOnceCancelledOnesNeverAndLaterOnesWait() {
    Deadlines d = new Deadlines();
    List<String> ran = new ArrayList<>();
    d.after(0, () -> ran.add("due"));
    Deadlines.Handle cancelled = d.after(0, () -> ran.add("cancelled"));
    cancelled.cancel();
    d.after(3_600_000_000_000L, () -> ran.add("in an hour"));
    d.sweep();
    d.sweep();
    assertEquals(List.of("due"), ran);
    assertEquals(1, d.size(), "the one an hour away stays armed");
  }

  @Test
  void aPeriodicDeadlineRunsAtEachSweepItIsDueUntilCancelled() {
    Deadlines d = new Deadlines();
    int[] runs = new int[1];
    // A period of 1 ns is due again at the next sweep once the clock has moved on.
    Deadlines.Handle h = d.every(1, () -> runs[0]++);
    awaitClockPast(System.nanoTime() + 1);
    d.sweep();
    awaitClockPast(System.nanoTime() + 1);
    d.sweep();
    h.cancel();
    d.sweep();
    assertEquals(2, runs[0]);
    assertEquals(0, d.size());
  }

  /** Spins until the nanosecond clock passes {@code t} (a few nanoseconds at most). */
  static void awaitClockPast(long t) {
    while (System.nanoTime() - t <= 0) Thread.onSpinWait();
  }

  @Test
  void aDeadlineArmedByATaskIsKeptForTheNextSweep() {
    Deadlines d = new Deadlines();
    List<String> ran = new ArrayList<>();
    d.after(0, () -> d.after(0, () -> ran.add("armed by the first")));
    d.sweep();
    assertTrue(ran.isEmpty(), "not run in the sweep that armed it");
    assertEquals(1, d.size());
    d.sweep();
    assertEquals(List.of("armed by the first"), ran);
  }
}
