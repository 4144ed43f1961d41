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
 * <p>The counters count this gateway's own requests; in a cluster, {@link #setPeers} adds what peer
 * gateways last reported ({@link Peers}), so the readers ({@link #inFlight}, {@link
 * #pendingPrefillTokens}, {@link #activeTokens}, {@link #decodeTokens}, {@link #healthy}) see the
 * cluster's totals while the {@code local*} readers see this gateway's share.
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
  private volatile Peers peers = Peers.NONE;

  /**
   * What the peer gateways of a cluster last reported for this endpoint, summed over the live ones.
   *
   * @param inFlight their requests in flight here
   * @param pendingPrefillTokens their dispatched prompt tokens not yet prefilled
   * @param activeTokens their requests' prompt tokens still held here
   * @param decodeTokens their requests' completion-token limits still open here
   * @param ejected whether any of them ejected the endpoint (failed checks or requests)
   */
  public record Peers(
      int inFlight,
      long pendingPrefillTokens,
      long activeTokens,
      long decodeTokens,
      boolean ejected) {
    public static final Peers NONE = new Peers(0, 0, 0, 0, false);
  }

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
    return inFlight.get() + peers.inFlight;
  }

  /** Sets what peer gateways report for this endpoint (the cluster, on its own thread). */
  public void setPeers(Peers p) {
    this.peers = p;
  }

  /** What peer gateways last reported ({@link Peers#NONE} outside a cluster). */
  public Peers peers() {
    return peers;
  }

  /** Prompt tokens dispatched by this gateway alone whose prefill has not finished. */
  public long localPendingPrefillTokens() {
    return pendingPrefillTokens.get();
  }

  /** Prompt tokens held by this gateway's requests alone. */
  public long localActiveTokens() {
    return activeTokens.get();
  }

  /** Completion-token limits of this gateway's requests alone. */
  public long localDecodeTokens() {
    return decodeTokens.get();
  }

  /** This gateway's own health verdict (its checks and its requests' outcomes). */
  public boolean localHealthy() {
    return healthy;
  }

  /** Requests dispatched by this gateway process alone. */
  public int localInFlight() {
    return inFlight.get();
  }

  /**
   * Prompt tokens dispatched whose prefill has not finished yet (cache hits excluded where known).
   */
  public long pendingPrefillTokens() {
    return pendingPrefillTokens.get() + peers.pendingPrefillTokens;
  }

  /**
   * Prompt tokens of the requests dispatched here and not finished (their KV occupancy while they
   * decode), by this gateway and its peers.
   */
  public long activeTokens() {
    return activeTokens.get() + peers.activeTokens;
  }

  /**
   * Completion tokens the requests dispatched here and not finished may still generate: the sum of
   * their limits ({@code max_tokens}; requests without one count 0), released when each ends. An
   * upper bound of the decode work still ahead, by this gateway and its peers.
   */
  public long decodeTokens() {
    return decodeTokens.get() + peers.decodeTokens;
  }

  public EngineSignals signals() {
    return signals;
  }

  public void setSignals(EngineSignals signals) {
    this.signals = signals;
  }

  /** Admitted by this gateway's verdict and by every peer's (in a cluster). */
  public boolean healthy() {
    return healthy && !peers.ejected;
  }

  /** Sets this gateway's own verdict. */
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
