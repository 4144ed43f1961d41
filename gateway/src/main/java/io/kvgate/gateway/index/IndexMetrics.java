package io.kvgate.gateway.index;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The index-health and KV-event meters. Per engine: its mode (one 0/1 series per mode), the blocks
 * the index holds for it next to the blocks the engine says it caches, and its detected resets by
 * cause; for the event listener: streams, events and blocks applied, batches dropped and why,
 * snapshots asked for, and the delay from an engine's batch to its application.
 */
public final class IndexMetrics {

  private final MeterRegistry registry;
  private final AtomicInteger streams = new AtomicInteger();
  private final Map<String, Counter> counters = new ConcurrentHashMap<>();
  private final DistributionSummary lag;
  // engines whose mode gauges read these holders (strongly held here: gauges hold weakly)
  private final Map<IndexHealth.Engine, IndexMode[]> modes = new ConcurrentHashMap<>();

  public IndexMetrics(MeterRegistry registry) {
    this.registry = registry;
    Gauge.builder("kvgate_kv_event_streams", streams, AtomicInteger::get)
        .description("Engine KV-event streams open on the gRPC listener")
        .register(registry);
    this.lag =
        DistributionSummary.builder("kvgate_kv_event_delay_seconds")
            .description(
                "From an engine's event batch (its timestamp) to kvgate applying it (clocks of two"
                    + " machines: meaningful where they are synchronised)")
            .baseUnit("seconds")
            .publishPercentiles(0.5, 0.99)
            .register(registry);
  }

  void bindEngine(IndexHealth.Engine e) {
    IndexMode[] current = {IndexMode.APPROXIMATE};
    modes.put(e, current);
    for (IndexMode m : IndexMode.values()) {
      Gauge.builder("kvgate_index_mode", current, c -> c[0] == m ? 1 : 0)
          .description("1 for the index mode of the engine's entries (precise/approximate/stale)")
          .tags("engine", e.url(), "mode", m.tag())
          .register(registry);
    }
    Gauge.builder("kvgate_index_engine_blocks", e, IndexHealth.Engine::indexBlocks)
        .description("Blocks kvgate's prefix index holds for the engine, summed over its models")
        .tags("engine", e.url())
        .register(registry);
    Gauge.builder("kvgate_engine_reported_cached_blocks", e, IndexHealth.Engine::engineCachedBlocks)
        .description(
            "Prefix-cache blocks the engine last reported on its KV-event stream (-1: none)")
        .tags("engine", e.url())
        .register(registry);
    Gauge.builder("kvgate_index_engine_holes", e, IndexHealth.Engine::holes)
        .description(
            "Blocks held for the engine whose parent the index does not hold (summed over its"
                + " models): while above 0 its prefix match walks block by block")
        .tags("engine", e.url())
        .register(registry);
    Gauge.builder("kvgate_engine_resets", e, IndexHealth.Engine::resets)
        .description("Restarts and cache resets detected for the engine (see kvgate_index_resets)")
        .tags("engine", e.url())
        .register(registry);
  }

  void mode(IndexHealth.Engine e, IndexMode m) {
    IndexMode[] current = modes.get(e);
    if (current != null) current[0] = m;
  }

  void reset(IndexHealth.Engine e, ResetCause cause) {
    counter(
            "kvgate_index_resets",
            "Engine restarts and cache resets detected, each clearing the engine's index entries",
            "engine",
            e.url(),
            "cause",
            cause.tag())
        .increment();
  }

  void phantomResync(IndexHealth.Engine e) {
    counter(
            "kvgate_kv_event_phantom_resyncs",
            "Snapshots asked of a precise engine because requests found far fewer cached tokens"
                + " than its events promised",
            "engine",
            e.url())
        .increment();
  }

  void streamOpened() {
    streams.incrementAndGet();
  }

  void streamClosed() {
    streams.decrementAndGet();
  }

  /** Events applied, by type ({@code block_stored}, {@code block_removed}, ...). */
  void events(String type, long n) {
    if (n > 0) counter("kvgate_kv_events", "KV events applied, by type", "type", type).increment(n);
  }

  /** Blocks stored or removed by applied events ({@code op}: stored, removed). */
  void blocks(String op, long n) {
    if (n > 0)
      counter("kvgate_kv_event_blocks", "Blocks named by applied KV events", "op", op).increment(n);
  }

  /** Events not applied, by reason. */
  void dropped(String reason, long events) {
    if (events > 0)
      counter(
              "kvgate_kv_events_dropped",
              "KV events received and not applied, by reason",
              "reason",
              reason)
          .increment(events);
  }

  void snapshotRequested(String reason) {
    counter(
            "kvgate_kv_event_snapshots_requested",
            "Snapshots asked of engines, by reason (sequence_gap, resync)",
            "reason",
            reason)
        .increment();
  }

  void snapshotApplied(long blocks) {
    counter("kvgate_kv_event_snapshots_applied", "Engine snapshots applied").increment();
    blocks("snapshot", blocks);
  }

  void streamRefused(String reason) {
    counter(
            "kvgate_kv_event_streams_refused",
            "Event streams ended by kvgate, by reason (hash_scheme, block_size, protocol)",
            "reason",
            reason)
        .increment();
  }

  void delay(double seconds) {
    if (seconds >= 0 && Double.isFinite(seconds)) lag.record(seconds);
  }

  private Counter counter(String name, String help, String... tags) {
    String key = name + String.join("\u0000", tags);
    return counters.computeIfAbsent(
        key, k -> Counter.builder(name).description(help).tags(tags).register(registry));
  }
}
