package io.kvgate.sim;

import io.vertx.core.Vertx;

/**
 * An engine's simulated time and the one chained Vert.x timer that drives its {@link EngineCore}.
 *
 * <p>Simulated time is the wall time since {@link #start()} &times; {@code speed}, in nanoseconds.
 * {@link #pump()} runs the core up to now and arms the timer for the core's next wake-up. Owned by
 * the engine's event loop.
 */
final class EngineClock {

  private final Vertx vertx;
  private final double speed;
  private final EngineCore core;
  private final Runnable afterAdvance;

  private long realStartNanos;
  private long timerId = -1;
  private long timerDueSim = Long.MAX_VALUE;

  /**
   * @param afterAdvance runs after each advance of the core, before the timer is armed
   */
  EngineClock(Vertx vertx, double speed, EngineCore core, Runnable afterAdvance) {
    this.vertx = vertx;
    this.speed = speed;
    this.core = core;
    this.afterAdvance = afterAdvance;
  }

  /** Simulated time 0 is now. */
  void start() {
    realStartNanos = System.nanoTime();
  }

  /** Cancels the pending step timer, if any. */
  void stop() {
    if (timerId >= 0) vertx.cancelTimer(timerId);
  }

  /** Simulated nanoseconds since {@link #start()}. */
  long now() {
    return (long) ((System.nanoTime() - realStartNanos) * speed);
  }

  /** Advances the core to now and arms the single step timer for its next wake-up. */
  void pump() {
    long now = now();
    long next = core.advanceTo(now);
    afterAdvance.run();
    if (next == Long.MAX_VALUE) return;
    if (timerId >= 0) {
      if (timerDueSim <= next) return;
      vertx.cancelTimer(timerId);
    }
    long delayMs = Math.max(1, (long) Math.ceil((next - now) / speed / 1e6));
    timerDueSim = next;
    timerId =
        vertx.setTimer(
            delayMs,
            t -> {
              timerId = -1;
              timerDueSim = Long.MAX_VALUE;
              pump();
            });
  }
}
