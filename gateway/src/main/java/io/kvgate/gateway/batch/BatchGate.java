package io.kvgate.gateway.batch;

import io.kvgate.gateway.auth.ApiKey;
import io.kvgate.gateway.config.GatewayConfig;
import io.kvgate.routing.EndpointState;
import io.kvgate.routing.EngineSignals;
import io.vertx.core.http.HttpServerRequest;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Where the batch lane meets the request path. The lane sends each batch line to the gateway's own
 * listener, marked with a per-process secret and registered here as a {@link Flight}; the request
 * path {@link #claim}s it, routes it among the endpoints under the watermark ({@link #eligible})
 * only, and {@link #bound binds} it to the endpoint chosen. An interactive request routed to an
 * endpoint {@link #interactive preempts} the batch lines there that have not produced a first token
 * (when preemption is on): the lane cancels them and queues them again.
 *
 * <p>Thread-safe: called from every event loop. The interactive path costs one atomic read while no
 * batch line is in flight.
 */
public final class BatchGate {

  /** The header carrying the per-process secret that marks a batch line. */
  public static final String HEADER = "x-kvgate-batch";

  /** The response header that tells the lane a line found no endpoint under the watermark. */
  public static final String DEFERRED = "x-kvgate-batch-deferred";

  /** How old an engine's scraped KV usage may be and still count against the watermark. */
  private static final long SIGNALS_MAX_AGE_NANOS = 5_000_000_000L;

  private final byte[] secret;
  private final String secretText;
  private final GatewayConfig.Watermark watermark;
  private final boolean preemption;
  private final Map<String, Flight> flights = new ConcurrentHashMap<>();
  private final Map<String, Set<Flight>> unstartedByEndpoint = new ConcurrentHashMap<>();
  private final AtomicInteger running = new AtomicInteger();

  /** Batch lines sent and not yet routed (or ended): slots they are about to take. */
  private final AtomicInteger unrouted = new AtomicInteger();

  /** Per endpoint id: interactive requests routed there that have not had their first byte. */
  private final Map<String, AtomicInteger> interactivePrefill = new ConcurrentHashMap<>();

  BatchGate(GatewayConfig.Watermark watermark, boolean preemption) {
    byte[] raw = new byte[32];
    new SecureRandom().nextBytes(raw);
    this.secretText = HexFormat.of().formatHex(raw);
    this.secret = secretText.getBytes(StandardCharsets.US_ASCII);
    this.watermark = watermark;
    this.preemption = preemption;
  }

  /** A batch line sent by the lane and not yet answered. */
  public static final class Flight {
    private final String requestId;
    private final ApiKey key;
    private final Runnable preempt;
    private volatile String endpointId;
    private volatile boolean started;

    /** Counted in {@link BatchGate#unrouted} until routed or ended. */
    private final java.util.concurrent.atomic.AtomicBoolean unrouted =
        new java.util.concurrent.atomic.AtomicBoolean(true);

    Flight(String requestId, ApiKey key, Runnable preempt) {
      this.requestId = requestId;
      this.key = key;
      this.preempt = preempt;
    }

    /** Whether the line's answer has begun (its first token); it is not preempted then. */
    boolean started() {
      return started;
    }

    /** The key of the batch's owner (null when that key is no longer configured). */
    public ApiKey key() {
      return key;
    }

    String requestId() {
      return requestId;
    }

    /** The endpoint it was routed to, or null before routing. */
    String endpointId() {
      return endpointId;
    }
  }

  /** The header value the lane sends. */
  String secret() {
    return secretText;
  }

  /** Batch lines in flight from this gateway. */
  public boolean batchRunning() {
    return running.get() > 0;
  }

  int running() {
    return running.get();
  }

  Flight register(String requestId, ApiKey key, Runnable preempt) {
    Flight f = new Flight(requestId, key, preempt);
    flights.put(requestId, f);
    running.incrementAndGet();
    unrouted.incrementAndGet();
    return f;
  }

  private void routedOrEnded(Flight f) {
    if (f.unrouted.compareAndSet(true, false)) unrouted.decrementAndGet();
  }

  /** Batch lines sent that have not been routed yet. */
  int unrouted() {
    return unrouted.get();
  }

  /** The line has ended (answered, failed or cancelled). */
  void unregister(Flight f) {
    if (flights.remove(f.requestId) == null) return;
    running.decrementAndGet();
    routedOrEnded(f);
    unbind(f);
  }

  /** The line has produced its first token: preemption no longer applies to it. */
  void started(Flight f) {
    f.started = true;
    unbind(f);
  }

  private void unbind(Flight f) {
    String e = f.endpointId;
    if (e == null) return;
    Set<Flight> s = unstartedByEndpoint.get(e);
    if (s != null) s.remove(f);
  }

  /**
   * The batch line {@code req} is, when it carries the lane's secret and a registered request id;
   * null for every other request.
   */
  public Flight claim(HttpServerRequest req) {
    String presented = req.getHeader(HEADER);
    if (presented == null) return null;
    if (!MessageDigest.isEqual(presented.getBytes(StandardCharsets.US_ASCII), secret)) return null;
    String id = req.getHeader("x-request-id");
    return id == null ? null : flights.get(id);
  }

  /** The endpoints of {@code candidates} under the watermark, with a slot left for interactive. */
  public List<EndpointState> eligible(List<EndpointState> candidates) {
    List<EndpointState> out = new ArrayList<>(candidates.size());
    long now = System.nanoTime();
    for (EndpointState e : candidates) if (underWatermark(e, now)) out.add(e);
    return out;
  }

  /**
   * Batch slots free now on the endpoints of {@code candidates} under the watermark: what the lane
   * may send without its lines finding no endpoint (a deferral, a wasted round trip).
   */
  long eligibleSlots(List<EndpointState> candidates) {
    long now = System.nanoTime();
    long free = 0;
    for (EndpointState e : candidates) {
      if (underWatermark(e, now)) free += watermark.maxInFlight() - 1 - e.inFlight();
    }
    return free;
  }

  /**
   * Batch slots free under the watermark on {@code candidates}: per endpoint, the in-flight
   * requests it may still take before the slot kept for interactive traffic.
   */
  long freeSlots(List<EndpointState> candidates) {
    long free = 0;
    for (EndpointState e : candidates) {
      if (!e.healthy()) continue;
      free += Math.max(0, watermark.maxInFlight() - 1 - e.inFlight());
    }
    return free;
  }

  private boolean underWatermark(EndpointState e, long now) {
    if (!e.healthy()) return false;
    // The line itself included, the endpoint stays below maxInFlight: the last slot under the
    // watermark is left to an interactive request.
    if (e.inFlight() + 1 >= watermark.maxInFlight()) return false;
    // An interactive request waiting for its first token there: batch prefill would share the
    // engine's steps with it.
    AtomicInteger prefilling = interactivePrefill.get(e.id());
    if (prefilling != null && prefilling.get() > 0) return false;
    if (e.pendingPrefillTokens() >= watermark.maxQueuedPrefillTokens()) return false;
    EngineSignals s = e.signals();
    return s.isStale(now, SIGNALS_MAX_AGE_NANOS) || s.kvCacheUsage() < watermark.maxKvUtilization();
  }

  /** The batch line {@code f} was routed to {@code e}. */
  public void bound(Flight f, EndpointState e) {
    f.endpointId = e.id();
    routedOrEnded(f);
    if (f.started || !preemption) return;
    unstartedByEndpoint.computeIfAbsent(e.id(), k -> ConcurrentHashMap.newKeySet()).add(f);
    // Answered or cancelled meanwhile: not preemptible.
    if (!flights.containsKey(f.requestId)) unbind(f);
  }

  /**
   * An interactive request was routed to {@code e}. Until the returned hook runs (its first byte,
   * or its end without one) no batch line is sent to {@code e}; with preemption on, the batch lines
   * on {@code e} without a first token are cancelled now (the lane queues them again).
   */
  public Runnable interactive(EndpointState e) {
    AtomicInteger prefilling = interactivePrefill.computeIfAbsent(e.id(), k -> new AtomicInteger());
    prefilling.incrementAndGet();
    if (preemption && running.get() > 0) {
      Set<Flight> s = unstartedByEndpoint.get(e.id());
      if (s != null && !s.isEmpty()) {
        for (Flight f : s.toArray(new Flight[0])) {
          if (s.remove(f) && !f.started) f.preempt.run();
        }
      }
    }
    return prefilling::decrementAndGet;
  }
}
