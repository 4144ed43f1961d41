package io.kvgate.gateway.index;

import io.kvgate.gateway.fleet.ModelRoute;
import io.kvgate.gateway.health.EngineMetricsText;
import io.kvgate.gateway.log.LogLimiter;
import io.kvgate.routing.EndpointState;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicLong;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * Per engine, what the prefix index knows about its cache ({@link IndexMode}) and the detection of
 * restarts and cache resets that make the index wrong.
 *
 * <p><b>Engines, not endpoints.</b> One engine (one base URL) may serve several configured models
 * and so own one slot in several models' indexes; a restart empties all of them. An {@link Engine}
 * groups those (model, endpoint) pairs; events and resets apply to each.
 *
 * <p><b>Reset detection in both modes.</b> With an event stream, the stream says it: a new instance
 * id, {@code AllBlocksCleared} ({@link KvEventIngest}). Without one, three signals from outside:
 * the engine's {@code /metrics} (its {@code process_start_time_seconds} moving, one of its {@code
 * *_total} counters going backwards, {@code vllm:cache_config_info}'s labels changing; see {@link
 * #observeScrape}), and requests that found far fewer cached tokens than the index predicted
 * ({@link #observeCachedTokens}: {@value #PHANTOM_STREAK} in a row, each predicting at least
 * {@value #PHANTOM_MIN_BLOCKS} blocks and reporting under a quarter of them). A detected reset
 * clears the engine's entries in every index at once, is counted ({@code
 * kvgate_index_resets_total}) and logged once, and leaves the engine {@link IndexMode#STALE} until
 * its entries are rebuilt: by the event stream's next applied batch or snapshot, or, without a
 * stream, by the next request kvgate dispatches there. A restart seen by both the stream and the
 * scrape is cleared once: a scrape finding a restart the stream already reported (a new instance id
 * since the previous scrape) leaves the rebuilt entries alone.
 *
 * <p>Thread-safety: each {@link Engine} is a monitor; the per-request hooks ({@link #onDispatched},
 * {@link #observeCachedTokens}) read a volatile first and lock only when they have something to do
 * or to count.
 */
public final class IndexHealth {

  /** Consecutive phantom-hit requests that make a reset. */
  static final int PHANTOM_STREAK = 2;

  /** A request counts as a phantom hit only when the index predicted at least this many blocks. */
  static final int PHANTOM_MIN_BLOCKS = 4;

  private static final Logger LOG = Logger.getLogger(IndexHealth.class.getName());

  /** One (model, endpoint) pair served by an engine. */
  public record Target(ModelRoute route, EndpointState state) {}

  private final Map<String, Engine> byUrl = new LinkedHashMap<>();
  private final Map<String, Engine> byId = new HashMap<>();
  private final Map<EndpointState, Engine> byState = new IdentityHashMap<>();
  private final IndexMetrics metrics;
  private final LogLimiter logs;
  private final int blockTokens;
  private volatile java.util.function.BiConsumer<EndpointState, Boolean> onPrecise = (e, p) -> {};

  /**
   * @param routes every model
   * @param blockTokens tokens per index block ({@code routing.blockSizeTokens})
   */
  public IndexHealth(
      List<ModelRoute> routes, IndexMetrics metrics, LogLimiter logs, int blockTokens) {
    this.metrics = Objects.requireNonNull(metrics);
    this.logs = logs;
    this.blockTokens = blockTokens;
    Map<String, List<Target>> targets = new LinkedHashMap<>();
    for (ModelRoute r : routes) {
      for (EndpointState e : r.endpoints()) {
        targets.computeIfAbsent(key(e), k -> new ArrayList<>()).add(new Target(r, e));
      }
    }
    targets.forEach(
        (url, ts) -> {
          Engine en = new Engine(url, ts);
          byUrl.put(url, en);
          for (Target t : ts) {
            byState.put(t.state(), en);
            byId.putIfAbsent(t.state().id(), en);
          }
          metrics.bindEngine(en);
        });
  }

  private static String key(EndpointState e) {
    return normalize(e.endpoint().url().toString());
  }

  private static String normalize(String url) {
    String u = url.trim();
    while (u.endsWith("/")) u = u.substring(0, u.length() - 1);
    return u;
  }

  /**
   * Told when an engine's event stream starts ({@code true}) or ends, for each of its endpoints
   * (the capacity bookkeeping gives precise endpoints headroom).
   */
  public void onPrecise(java.util.function.BiConsumer<EndpointState, Boolean> listener) {
    this.onPrecise = Objects.requireNonNull(listener);
  }

  /** The engine an event stream names: by base URL first, then by endpoint id; null if none. */
  public Engine find(String name) {
    if (name == null || name.isBlank()) return null;
    Engine e = byUrl.get(normalize(name));
    return e != null ? e : byId.get(name.trim());
  }

  /** The engine behind {@code state}, or null for an endpoint this registry does not know. */
  public Engine of(EndpointState state) {
    return byState.get(state);
  }

  public Collection<Engine> engines() {
    return byUrl.values();
  }

  public IndexMetrics metrics() {
    return metrics;
  }

  /** The index mode of the engine behind {@code state} ({@link IndexMode#APPROXIMATE} if none). */
  public IndexMode mode(EndpointState state) {
    Engine e = of(state);
    return e == null ? IndexMode.APPROXIMATE : e.mode();
  }

  /**
   * The endpoint's request was dispatched: without a stream, an engine reset earlier is rebuilt
   * from here on. A volatile read unless a rebuild is pending.
   */
  public void onDispatched(EndpointState state) {
    Engine e = of(state);
    if (e != null && e.rebuildPending) e.rebuiltByRouting();
  }

  /** One finished request's predicted and engine-reported cached prompt tokens at {@code state}. */
  public void observeCachedTokens(EndpointState state, long predictedTokens, long reportedTokens) {
    Engine e = of(state);
    if (e == null || reportedTokens < 0) return;
    // a small prediction says little either way: it neither counts nor breaks a streak
    if (predictedTokens < (long) PHANTOM_MIN_BLOCKS * blockTokens) return;
    boolean phantom = reportedTokens * 4 < predictedTokens;
    if (!phantom && e.phantomStreak == 0) return;
    e.observePhantom(phantom, predictedTokens, reportedTokens);
  }

  /**
   * One successful scrape of the engine behind {@code state}. An engine serving several models is
   * scraped once per model, and two answers may arrive out of order (an older counter would read as
   * one going backwards): only the scrapes of its first model's endpoint are compared.
   */
  public void observeScrape(EndpointState state, EngineMetricsText m) {
    Engine e = of(state);
    if (e != null && e.targets.get(0).state() == state) e.observeScrape(m);
  }

  /** One engine: its targets, index mode, instance and reset bookkeeping. */
  public final class Engine {
    private final String url;
    private final List<Target> targets;
    private final AtomicLong resets = new AtomicLong();
    private volatile IndexMode mode = IndexMode.APPROXIMATE;
    private boolean streamLive;
    private boolean awaitingSnapshot;
    private volatile boolean rebuildPending;
    private volatile String instanceId = "";
    // a reset was counted while no stream was live: the next new instance is that same restart
    private boolean resetWhileDown;
    private boolean instanceChangedSinceScrape;
    private volatile long engineCachedBlocks = -1;
    private Runnable resync;
    private long lastSeq = -1;
    // the previous scrape's fingerprint
    private double processStart = Double.NaN;
    private Map<String, Double> counters = Map.of();
    private String cacheConfig = "";
    private volatile int phantomStreak;

    Engine(String url, List<Target> targets) {
      this.url = url;
      this.targets = List.copyOf(targets);
    }

    public String url() {
      return url;
    }

    public List<Target> targets() {
      return targets;
    }

    public IndexMode mode() {
      return mode;
    }

    public String instanceId() {
      return instanceId;
    }

    public synchronized boolean streamLive() {
      return streamLive;
    }

    /** Detected restarts and cache resets. */
    public long resets() {
      return resets.get();
    }

    /** Cached blocks the engine last reported on its stream, -1 if never. */
    public long engineCachedBlocks() {
      return engineCachedBlocks;
    }

    void setEngineCachedBlocks(long blocks) {
      engineCachedBlocks = blocks;
    }

    /**
     * Held blocks whose parent the index does not hold, summed over the engine's models ({@link
     * io.kvgate.routing.prefix.PrefixIndex#holes}): while above 0 the engine is matched block by
     * block.
     */
    public long holes() {
      long n = 0;
      for (Target t : targets) n += t.route().index().holes(t.state().slot());
      return n;
    }

    /** Blocks the index holds for this engine, summed over its models. */
    public long indexBlocks() {
      long n = 0;
      for (Target t : targets) n += t.route().index().heldBlocks(t.state().slot());
      return n;
    }

    // ---- event-stream transitions (KvEventIngest) ----

    /**
     * A stream for {@code instance} said hello. Returns true if that instance is the one kvgate
     * already knows (a reconnect), false if it is new; a new instance replacing a known one is a
     * restart, and the engine's entries are cleared.
     */
    synchronized boolean streamHello(String instance, Runnable resyncRequester) {
      boolean known = !instanceId.isEmpty() && instanceId.equals(instance);
      if (!known) {
        boolean restart = !instanceId.isEmpty();
        instanceId = instance;
        lastSeq = -1;
        instanceChangedSinceScrape = true;
        // before the stream counts as live: the new instance's own batches rebuild the entries,
        // no snapshot needed
        streamLive = false;
        if (restart && resetWhileDown) {
          // found by a scrape or by requests while the stream was down: the same restart, counted
          // once; the new instance's stream rebuilds the entries
          clearForReplacement();
        } else if (restart) {
          resetLocked(ResetCause.INSTANCE_RESTART, "new instance id " + instance);
        }
      }
      resetWhileDown = false;
      streamLive = true;
      resync = resyncRequester;
      for (Target t : targets) {
        t.route().index().setExpires(t.state().slot(), false);
        onPrecise.accept(t.state(), true);
      }
      return known;
    }

    /** A {@code LoadReport} named {@code instance}: a change behind a live stream is a restart. */
    synchronized boolean instanceReported(String instance) {
      if (instance.isEmpty() || instance.equals(instanceId)) return false;
      instanceId = instance;
      instanceChangedSinceScrape = true;
      lastSeq = -1;
      resetLocked(ResetCause.INSTANCE_RESTART, "load report with new instance id " + instance);
      return true;
    }

    /** The last batch applied from the current instance's stream, -1 when none is known. */
    synchronized long lastSeq() {
      return lastSeq;
    }

    synchronized void setLastSeq(long seq) {
      lastSeq = seq;
    }

    /**
     * Forgets the engine's entries without counting a reset: its stream is about to say exactly
     * what it holds (a snapshot, or a new instance's history from its first batch).
     */
    synchronized long clearForReplacement() {
      long removed = 0;
      for (Target t : targets) removed += t.route().index().clearEndpoint(t.state().slot());
      return removed;
    }

    /**
     * A snapshot's first chunk cleared the entries: until its last chunk, nothing is applied from
     * the stream, and a reconnect must ask again.
     */
    synchronized void snapshotStarted() {
      lastSeq = -1;
    }

    /** kvgate asked the stream for a snapshot: the entries are being replaced. */
    synchronized void awaitingSnapshot() {
      awaitingSnapshot = true;
      setMode(IndexMode.STALE);
    }

    /**
     * A batch or a complete snapshot was applied from a live stream: the index reflects the
     * engine's own report.
     */
    synchronized void streamApplied() {
      awaitingSnapshot = false;
      rebuildPending = false;
      if (streamLive) setMode(IndexMode.PRECISE);
    }

    /** The batch cleared the whole cache ({@code AllBlocksCleared}). */
    synchronized void allBlocksCleared() {
      resetLocked(ResetCause.ALL_BLOCKS_CLEARED, "AllBlocksCleared event");
    }

    /**
     * The stream {@code resyncRequester} belonged to ended. The index keeps what it knew and goes
     * back to approximate (or stays stale when a rebuild was pending).
     */
    synchronized void streamLost(Runnable resyncRequester) {
      if (resync != resyncRequester) return; // a newer stream took over
      streamLive = false;
      resync = null;
      awaitingSnapshot = false;
      for (Target t : targets) {
        t.route().index().setExpires(t.state().slot(), true);
        onPrecise.accept(t.state(), false);
      }
      setMode(rebuildPending ? IndexMode.STALE : IndexMode.APPROXIMATE);
    }

    // ---- resets ----

    /** Clears the engine's entries everywhere, counts and logs the reset. */
    public synchronized void reset(ResetCause cause, String detail) {
      resetLocked(cause, detail);
    }

    private void resetLocked(ResetCause cause, String detail) {
      boolean viaStream =
          cause == ResetCause.INSTANCE_RESTART || cause == ResetCause.ALL_BLOCKS_CLEARED;
      boolean askStream = streamLive && resync != null && !viaStream;
      long removed = 0;
      if (!askStream) {
        // a live stream found wrong from outside is replaced by its snapshot instead. A reset
        // the stream reported reaches peer gateways; one found here (scrape, phantom hits) is
        // found by each gateway on its own, so its clear stays local.
        for (Target t : targets) {
          removed +=
              viaStream
                  ? t.route().index().clearEndpoint(t.state().slot())
                  : t.route().localIndex().clearEndpoint(t.state().slot());
        }
      }
      if (cause != ResetCause.ALL_BLOCKS_CLEARED) lastSeq = -1;
      if (!streamLive) resetWhileDown = true;
      resets.incrementAndGet();
      metrics.reset(this, cause);
      phantomStreak = 0;
      rebuildPending = true;
      setMode(IndexMode.STALE);
      long cleared = removed;
      if (logs != null) {
        logs.log(
            LOG,
            Level.WARNING,
            "index",
            () ->
                String.format(
                    "engine %s: %s (%s): %s",
                    url,
                    cause.tag(),
                    detail,
                    askStream
                        ? "asked its event stream for a snapshot"
                        : "cleared its " + cleared + " index entries"));
      }
      if (streamLive && resync != null && cause != ResetCause.ALL_BLOCKS_CLEARED) {
        // the stream is live but its engine restarted or drifted behind it: ask what it holds
        resync.run();
      }
    }

    private void rebuiltByRouting() {
      synchronized (this) {
        if (!rebuildPending || streamLive) return;
        rebuildPending = false;
        setMode(IndexMode.APPROXIMATE);
      }
    }

    private synchronized void observePhantom(boolean phantom, long predicted, long reported) {
      if (!phantom) {
        phantomStreak = 0;
        return;
      }
      int streak = phantomStreak + 1;
      phantomStreak = streak;
      if (streak < PHANTOM_STREAK) return;
      String detail =
          String.format(
              "%d requests in a row found far fewer cached tokens than predicted (last: %d of %d)",
              streak, reported, predicted);
      if (streamLive && resync != null) {
        // the stream should have said so: ask it for the truth rather than guessing (a snapshot
        // already awaited answers it)
        phantomStreak = 0;
        if (!awaitingSnapshot) {
          metrics.phantomResync(this);
          lastSeq = -1;
          resync.run();
        }
        return;
      }
      resetLocked(ResetCause.PHANTOM_HITS, detail);
    }

    private synchronized void observeScrape(EngineMetricsText m) {
      double start = m.processStartSeconds();
      Map<String, Double> now = m.counters();
      String config = m.cacheConfig();
      ResetCause cause = null;
      String detail = null;
      // a process's start time is one constant: any change is another process
      if (!Double.isNaN(processStart)
          && !Double.isNaN(start)
          && Math.abs(start - processStart) > 1e-3) {
        cause = ResetCause.PROCESS_RESTART;
        detail = String.format("process_start_time_seconds %.3f -> %.3f", processStart, start);
      } else if (!cacheConfig.isEmpty() && !config.isEmpty() && !config.equals(cacheConfig)) {
        cause = ResetCause.CACHE_CONFIG_CHANGED;
        detail = "vllm:cache_config_info {" + cacheConfig + "} -> {" + config + "}";
      } else {
        for (Map.Entry<String, Double> c : now.entrySet()) {
          Double before = counters.get(c.getKey());
          if (before != null && c.getValue() < before - 0.5) {
            cause = ResetCause.COUNTERS_RESET;
            detail = String.format("%s %.0f -> %.0f", c.getKey(), before, c.getValue());
            break;
          }
        }
      }
      if (!Double.isNaN(start)) processStart = start;
      counters = now;
      if (!config.isEmpty()) cacheConfig = config;
      boolean streamSawIt = streamLive && instanceChangedSinceScrape;
      instanceChangedSinceScrape = false;
      if (cause != null && !streamSawIt) resetLocked(cause, detail);
    }

    private void setMode(IndexMode m) {
      if (mode == m) return;
      mode = m;
      metrics.mode(this, m);
    }

    @Override
    public String toString() {
      return url;
    }
  }
}
