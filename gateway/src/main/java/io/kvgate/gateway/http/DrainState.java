package io.kvgate.gateway.http;

/**
 * Where a gateway is in its shutdown: serving; draining ({@code /ready} answers 503 so load
 * balancers stop sending, requests are still accepted, responses close their connections); closing
 * (new requests are refused 503 {@code server_shutting_down}, those in flight finish up to the
 * drain deadline).
 */
public final class DrainState {

  public static final int SERVING = 0;
  public static final int DRAINING = 1;
  public static final int CLOSING = 2;

  private volatile int phase = SERVING;

  public int phase() {
    return phase;
  }

  /** {@code /ready} reports 503 and responses close their connections. */
  public boolean draining() {
    return phase >= DRAINING;
  }

  /** New requests are refused. */
  public boolean closing() {
    return phase >= CLOSING;
  }

  /** Moves forward to {@code next} (never back); false if already there or beyond. */
  public synchronized boolean advance(int next) {
    if (phase >= next) return false;
    phase = next;
    return true;
  }
}
