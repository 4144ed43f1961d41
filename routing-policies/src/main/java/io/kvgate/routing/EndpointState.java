package io.kvgate.routing;

import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The live, thread-safe state of one endpoint: kvgate's own load counters (instant, counted at
 * dispatch), the engine's last scraped signals, health and drain flags.
 *
 * <p>Load is counted when a request is dispatched, not when its response starts, and in the tokens
 * it will prefill, not only in requests: a burst of long prompts must not all pick the same "idle"
 * replica. {@link #acquire(long)} returns a {@link Lease} that the request path releases in two
 * steps: {@link Lease#prefillDone()} when the first token arrives (the prefill work is over),
 * {@link Lease#release()} when the request ends for any reason. Both are idempotent, so every exit
 * path may call them.
 *
 * <p>The counters are local to this gateway process.
 */
public final class EndpointState {

  private final Endpoint endpoint;
  private final int slot;
  private final AtomicInteger inFlight = new AtomicInteger();
  private final AtomicLong pendingPrefillTokens = new AtomicLong();
  private final AtomicLong activeTokens = new AtomicLong();
  private final AtomicLong decodeTokens = new AtomicLong();
  private volatile EngineSignals signals = EngineSignals.NONE;
  private volatile boolean healthy = true;

  /**
   * @param endpoint the configured endpoint
   * @param slot a small dense integer unique per endpoint within its fleet (0, 1, 2, ...), used by
   *     compact structures such as the prefix index instead of the string id
   */
  public EndpointState(Endpoint endpoint, int slot) {
    this.endpoint = endpoint;
    this.slot = slot;
  }

  public Endpoint endpoint() {
    return endpoint;
  }

  public String id() {
    return endpoint.id();
  }

  public int slot() {
    return slot;
  }

  /** Requests dispatched to this endpoint and not yet finished, by this gateway and its peers. */
  public int inFlight() {
    return inFlight.get();
  }

  /** Requests dispatched by this gateway process alone. */
  public int localInFlight() {
    return inFlight.get();
  }

  /**
   * Prompt tokens dispatched whose prefill has not finished yet (cache hits excluded where known).
   */
  public long pendingPrefillTokens() {
    return pendingPrefillTokens.get();
  }

  /**
   * Prompt tokens of the requests dispatched here and not finished (their KV occupancy while they
   * decode), by this gateway.
   */
  public long activeTokens() {
    return activeTokens.get();
  }

  /**
   * Completion tokens the requests dispatched here and not finished may still generate: the sum of
   * their limits ({@code max_tokens}; requests without one count 0), released when each ends. An
   * upper bound of the decode work still ahead, by this gateway.
   */
  public long decodeTokens() {
    return decodeTokens.get();
  }

  public EngineSignals signals() {
    return signals;
  }

  public void setSignals(EngineSignals signals) {
    this.signals = signals;
  }

  public boolean healthy() {
    return healthy;
  }

  public void setHealthy(boolean healthy) {
    this.healthy = healthy;
  }

  /**
   * Counts a request against this endpoint from now on.
   *
   * @param prefillTokens tokens the endpoint is expected to prefill (prompt minus predicted cache
   *     hit)
   */
  public Lease acquire(long prefillTokens) {
    return acquire(prefillTokens, prefillTokens);
  }

  /**
   * Counts a request against this endpoint from now on.
   *
   * @param prefillTokens tokens the endpoint is expected to prefill (prompt minus predicted cache
   *     hit)
   * @param contextTokens the request's whole prompt, held in the endpoint's KV cache while it runs
   */
  public Lease acquire(long prefillTokens, long contextTokens) {
    return acquire(prefillTokens, contextTokens, 0);
  }

  /**
   * Counts a request against this endpoint from now on.
   *
   * @param prefillTokens tokens the endpoint is expected to prefill (prompt minus predicted cache
   *     hit)
   * @param contextTokens the request's whole prompt, held in the endpoint's KV cache while it runs
   * @param decodeTokens completion tokens the endpoint may generate for it (its limit; 0 unknown)
   */
  public Lease acquire(long prefillTokens, long contextTokens, long decodeTokens) {
    long t = Math.max(0, prefillTokens);
    long a = Math.max(0, contextTokens);
    long d = Math.max(0, decodeTokens);
    inFlight.incrementAndGet();
    pendingPrefillTokens.addAndGet(t);
    activeTokens.addAndGet(a);
    this.decodeTokens.addAndGet(d);
    return new Lease(t, a, d);
  }

  @Override
  public String toString() {
    return endpoint.id()
        + "{inFlight="
        + inFlight()
        + ", pendingPrefill="
        + pendingPrefillTokens()
        + ", healthy="
        + healthy
        + "}";
  }

  /** One request's claim on this endpoint's load counters. */
  public final class Lease {
    private final long prefillTokens;
    private final long contextTokens;
    private final long leaseDecodeTokens;
    private final AtomicBoolean prefillOpen = new AtomicBoolean(true);
    private final AtomicBoolean open = new AtomicBoolean(true);

    private Lease(long prefillTokens, long contextTokens, long decodeTokens) {
      this.prefillTokens = prefillTokens;
      this.contextTokens = contextTokens;
      this.leaseDecodeTokens = decodeTokens;
    }

    public EndpointState endpoint() {
      return EndpointState.this;
    }

    /**
     * The prefill is over (first token seen): its tokens no longer count as pending. Idempotent.
     */
    public void prefillDone() {
      if (prefillOpen.compareAndSet(true, false)) pendingPrefillTokens.addAndGet(-prefillTokens);
    }

    /** The request is over, whatever its outcome. Idempotent. */
    public void release() {
      prefillDone();
      if (open.compareAndSet(true, false)) {
        inFlight.decrementAndGet();
        activeTokens.addAndGet(-contextTokens);
        decodeTokens.addAndGet(-leaseDecodeTokens);
      }
    }
  }
}
