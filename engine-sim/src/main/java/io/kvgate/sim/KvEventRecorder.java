package io.kvgate.sim;

import io.kvgate.proto.v1.AllBlocksCleared;
import io.kvgate.proto.v1.BlockRemoved;
import io.kvgate.proto.v1.BlockStored;
import io.kvgate.proto.v1.EventBatch;
import io.kvgate.proto.v1.KvEvent;
import io.kvgate.proto.v1.LoadReport;
import io.kvgate.proto.v1.StorageTier;
import io.vertx.core.Vertx;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;

/**
 * The engine side of KV event publishing: listens to the current process's {@link KvBlockPool},
 * turns its changes into {@link KvEvent}s and flushes them as {@link EventBatch}es to the {@link
 * KvEventPublisher}.
 *
 * <p>Events are recorded synchronously as the pool changes, so a batch lists them in the order they
 * happened: each run of newly cached blocks of one prompt is one {@code BlockStored} (chain order,
 * with its parent hash), consecutive evictions are coalesced into one {@code BlockRemoved}, a
 * cleared cache is {@code AllBlocksCleared}. Pending events are flushed as one batch every {@link
 * KvEventPublisher.Options#batchInterval()} when there are any, at once when they reach {@value
 * #FLUSH_AT_HASHES} hashes (so a batch stays far below gRPC's 4 MiB message limit), and with a
 * {@code LoadReport} every {@link KvEventPublisher.Options#loadInterval()}. Each batch takes the
 * next {@code seq}, from 0 for every process.
 *
 * <p>A snapshot flushes first (a load report guarantees a batch even when nothing else is pending,
 * so {@code as_of_seq} always names a batch this process sent), then lists {@link
 * KvBlockPool#cachedHashes()} at the same instant: the listing reflects exactly the batches up to
 * {@code as_of_seq}.
 *
 * <p>Confined to the engine's event loop (the two timers run there); the cost to the engine is one
 * protobuf builder call per cached or evicted block.
 */
final class KvEventRecorder implements KvBlockPool.Events {

  /** Pending hashes at which a batch is flushed before its interval is up. */
  static final int FLUSH_AT_HASHES = 50_000;

  private final Vertx vertx;
  private final KvEventPublisher publisher;
  private final int blockSizeTokens;
  private final int capacityBlocks;

  private List<KvEvent> pending = new ArrayList<>();
  private BlockRemoved.Builder removing;
  private int pendingHashes;
  private long nextSeq;
  private String instanceId;
  private EngineCore core;
  private EngineMetrics metrics;
  private long batchTimer = -1;
  private long loadTimer = -1;

  KvEventRecorder(Vertx vertx, KvEventPublisher publisher, SimEngineConfig config) {
    this.vertx = vertx;
    this.publisher = publisher;
    this.blockSizeTokens = config.blockSizeTokens();
    this.capacityBlocks = config.capacityBlocks();
  }

  /**
   * Starts recording the process {@code core} belongs to (detaching from the previous one): its
   * events start at {@code seq} 0 under {@code instanceId}; the timers start on first use. Call on
   * the engine's event loop.
   */
  void attach(EngineCore core, EngineMetrics metrics, String instanceId) {
    if (this.core != null) this.core.pool().events(null);
    this.core = core;
    this.metrics = metrics;
    this.instanceId = instanceId;
    pending = new ArrayList<>();
    removing = null;
    pendingHashes = 0;
    nextSeq = 0;
    core.pool().events(this);
    if (batchTimer < 0) {
      KvEventPublisher.Options o = publisher.options();
      batchTimer = vertx.setPeriodic(o.batchInterval().toMillis(), t -> flush());
      loadTimer = vertx.setPeriodic(o.loadInterval().toMillis(), t -> loadReport());
    }
    // a first batch right away: kvgate learns the load, and acks the stream, without waiting
    loadReport();
  }

  /** Stops recording and the timers. Call on the engine's event loop. */
  void stop() {
    if (core != null) core.pool().events(null);
    core = null;
    if (batchTimer >= 0) vertx.cancelTimer(batchTimer);
    if (loadTimer >= 0) vertx.cancelTimer(loadTimer);
    batchTimer = loadTimer = -1;
  }

  @Override
  public void stored(long[] hashes, int from, int to) {
    endRemoving();
    BlockStored.Builder b =
        BlockStored.newBuilder()
            .setTokenCount((to - from) * blockSizeTokens)
            .setTier(StorageTier.STORAGE_TIER_GPU);
    if (from > 0) b.setParentBlockHash(hashes[from - 1]);
    for (int i = from; i < to; i++) b.addBlockHashes(hashes[i]);
    pending.add(KvEvent.newBuilder().setBlockStored(b).build());
    counted(to - from);
  }

  @Override
  public void removed(long hash) {
    if (removing == null)
      removing = BlockRemoved.newBuilder().setTier(StorageTier.STORAGE_TIER_GPU);
    removing.addBlockHashes(hash);
    counted(1);
  }

  @Override
  public void cleared() {
    endRemoving();
    pending.add(
        KvEvent.newBuilder().setAllBlocksCleared(AllBlocksCleared.getDefaultInstance()).build());
  }

  private void counted(int hashes) {
    pendingHashes += hashes;
    if (pendingHashes >= FLUSH_AT_HASHES) flush();
  }

  private void endRemoving() {
    if (removing == null) return;
    pending.add(KvEvent.newBuilder().setBlockRemoved(removing).build());
    removing = null;
  }

  /** Sends the pending events as the next batch, if there are any. */
  void flush() {
    if (core == null) return;
    endRemoving();
    if (pending.isEmpty()) return;
    Instant now = Instant.now();
    EventBatch batch =
        EventBatch.newBuilder()
            .setSeq(nextSeq++)
            .setTimestampUnixNanos(now.getEpochSecond() * 1_000_000_000L + now.getNano())
            .addAllEvents(pending)
            .build();
    metrics.kvEventsPublished += pending.size();
    pending = new ArrayList<>();
    pendingHashes = 0;
    publisher.offer(batch, instanceId);
  }

  /** Adds a {@code LoadReport} and flushes. */
  void loadReport() {
    if (core == null) return;
    endRemoving();
    KvBlockPool pool = core.pool();
    pending.add(
        KvEvent.newBuilder()
            .setLoadReport(
                LoadReport.newBuilder()
                    .setRunning(core.running())
                    .setWaiting(core.waiting())
                    .setKvUtilization(pool.usage())
                    .setCapacityBlocks(capacityBlocks)
                    .setInstanceId(instanceId)
                    .setCachedBlocks(pool.cachedBlocks()))
            .build());
    flush();
  }

  /**
   * Answers a snapshot request made on {@code stream}: flushes (with a load report, so there is a
   * batch to be {@code as_of}), then hands the publisher every cached hash with its parent.
   */
  void snapshot(Object stream, long requestId) {
    if (core == null) return;
    loadReport();
    long[] hashes = core.pool().cachedHashes();
    publisher.offerSnapshot(
        stream, requestId, nextSeq - 1, instanceId, hashes, core.pool().parentsOf(hashes));
  }
}
