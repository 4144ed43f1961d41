package io.kvgate.gateway.index;

import io.grpc.Status;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import io.kvgate.gateway.log.LogLimiter;
import io.kvgate.proto.v1.Ack;
import io.kvgate.proto.v1.BlockRemoved;
import io.kvgate.proto.v1.BlockStored;
import io.kvgate.proto.v1.EventBatch;
import io.kvgate.proto.v1.HashScheme;
import io.kvgate.proto.v1.Hello;
import io.kvgate.proto.v1.KvEvent;
import io.kvgate.proto.v1.KvEventServiceGrpc;
import io.kvgate.proto.v1.LoadReport;
import io.kvgate.proto.v1.PublishRequest;
import io.kvgate.proto.v1.PublishResponse;
import io.kvgate.proto.v1.SnapshotChunk;
import io.kvgate.proto.v1.SnapshotRequest;
import io.kvgate.proto.v1.StorageTier;
import io.kvgate.routing.EndpointState;
import io.kvgate.routing.EngineSignals;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executor;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.ObjLongConsumer;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * {@code kvgate.v1.KvEventService}: engines' KV-event streams feeding the prefix index (the
 * protocol is documented in {@code proto/src/main/protobuf/kvgate/v1/kv_events.proto}).
 *
 * <p>One {@link Session} per stream. gRPC delivers a stream's messages one at a time, on the
 * listener's executor (never a Vert.x event loop); a session applies each batch to every index
 * holding the engine (one per model it serves) before it reads the next, so the order of events is
 * the engine's. Index writes are the same lock-striped, non-blocking writes routing does.
 *
 * <p>Sequence bookkeeping lives on the engine ({@link IndexHealth.Engine#lastSeq}), not on the
 * session, so that a reconnect of the same instance continues where the last stream stopped: resent
 * batches are skipped, a gap asks for a snapshot. A new instance (never seen, or replacing one)
 * whose first batch is its {@code seq} 0 needs no snapshot: its stream holds its whole history, so
 * the engine's entries are replaced by it; a first batch beyond 0 asks for one.
 *
 * <p>Memory: a batch is applied as it arrives and a snapshot chunk by chunk (the first chunk clears
 * the engine's entries), so nothing is buffered beyond one message (gRPC's inbound message limit, 4
 * MiB by default, about 500,000 hashes); the index bounds every endpoint by its capacity. Events
 * for an endpoint kvgate does not serve are counted and dropped.
 */
public final class KvEventIngest extends KvEventServiceGrpc.KvEventServiceImplBase {

  private static final Logger LOG = Logger.getLogger(KvEventIngest.class.getName());

  /** A snapshot asked for and not answered is asked again after this long. */
  static final long SNAPSHOT_RETRY_NANOS = 10_000_000_000L;

  /** Hash scheme kvgate computes for requests. */
  public static final HashScheme SCHEME = HashScheme.HASH_SCHEME_KVGATE_TEXT_XXH64;

  private final IndexHealth health;
  private final int blockSizeChars;
  private final int blockTokens;
  private final ObjLongConsumer<EndpointState> statedCapacityTokens;
  private final Executor executor;
  private final LogLimiter logs;
  private final AtomicLong snapshotIds = new AtomicLong();
  private final Map<IndexHealth.Engine, Session> current = new ConcurrentHashMap<>();

  /**
   * @param blockSizeChars the index's block size in characters; streams with another are refused
   * @param blockTokens the index's block size in tokens (converts reported capacities)
   * @param statedCapacityTokens receives an engine's stated KV capacity in tokens (from its load
   *     reports), applied like a capacity read from its metrics
   * @param executor where work triggered from outside a stream (a reset found by a scrape) runs on
   *     that stream: the listener's executor
   */
  public KvEventIngest(
      IndexHealth health,
      int blockSizeChars,
      int blockTokens,
      ObjLongConsumer<EndpointState> statedCapacityTokens,
      Executor executor,
      LogLimiter logs) {
    this.health = health;
    this.blockSizeChars = blockSizeChars;
    this.blockTokens = blockTokens;
    this.statedCapacityTokens = statedCapacityTokens;
    this.executor = executor;
    this.logs = logs;
  }

  @Override
  public StreamObserver<PublishRequest> publish(StreamObserver<PublishResponse> responses) {
    return new Session((ServerCallStreamObserver<PublishResponse>) responses);
  }

  /** Ends every open stream (the listener is shutting down); engines reconnect elsewhere. */
  public void closeAll() {
    for (Session s : current.values()) s.end(Status.UNAVAILABLE.withDescription("kvgate stopping"));
  }

  private void log(Level level, String message) {
    if (logs != null) logs.log(LOG, level, "index", () -> message);
    else LOG.log(level, message);
  }

  /** One engine's stream. */
  final class Session implements StreamObserver<PublishRequest> {
    private final ServerCallStreamObserver<PublishResponse> out;
    private final Runnable resync = this::resyncFromOutside;
    private IndexHealth.Engine engine;
    private boolean hello;
    private boolean unknown;
    private boolean counted;
    private boolean closed;
    // set at once by the session that replaces this one (ending it waits for the executor)
    private volatile boolean superseded;
    private String instance = "";
    private int engineBlockTokens;
    private long awaitedSnapshot = -1;
    private long snapshotAskedNanos;
    private long snapshotBlocks;
    private long[] scratch = new long[64];
    private long[] parentScratch = new long[0];

    Session(ServerCallStreamObserver<PublishResponse> out) {
      this.out = out;
      out.setOnCancelHandler(this::lost);
    }

    @Override
    public synchronized void onNext(PublishRequest r) {
      if (closed || superseded) return;
      try {
        switch (r.getKindCase()) {
          case HELLO -> hello(r.getHello());
          case BATCH -> batch(r.getBatch());
          case SNAPSHOT -> snapshot(r.getSnapshot());
          default -> {} // a kind from a newer engine: ignored, as the contract says
        }
      } catch (RuntimeException e) {
        log(Level.WARNING, "event stream from " + name() + " failed: " + e);
        end(Status.INTERNAL.withDescription("kvgate could not apply the events: " + e));
      }
    }

    @Override
    public void onError(Throwable t) {
      lost();
    }

    @Override
    public void onCompleted() {
      synchronized (this) {
        if (!closed) out.onCompleted();
      }
      lost();
    }

    private String name() {
      return engine != null ? engine.url() : "an engine";
    }

    private void hello(Hello h) {
      if (hello) {
        refuse("protocol", Status.INVALID_ARGUMENT.withDescription("Hello sent twice"));
        return;
      }
      if (h.getHashScheme() != SCHEME) {
        refuse(
            "hash_scheme",
            Status.FAILED_PRECONDITION.withDescription(
                "hash scheme "
                    + h.getHashScheme()
                    + " is not kvgate's ("
                    + SCHEME
                    + "): its block hashes would never match kvgate's"));
        return;
      }
      if (h.getBlockSizeChars() != blockSizeChars) {
        refuse(
            "block_size",
            Status.FAILED_PRECONDITION.withDescription(
                "block_size_chars "
                    + h.getBlockSizeChars()
                    + " differs from kvgate's "
                    + blockSizeChars
                    + " (routing.blockSizeTokens x routing.charsPerToken)"));
        return;
      }
      if (h.getInstanceId().isEmpty()) {
        refuse("protocol", Status.INVALID_ARGUMENT.withDescription("Hello needs an instance_id"));
        return;
      }
      hello = true;
      instance = h.getInstanceId();
      engineBlockTokens = h.getBlockSizeTokens() > 0 ? h.getBlockSizeTokens() : blockTokens;
      engine = health.find(h.getEndpoint());
      if (engine == null) {
        unknown = true;
        log(
            Level.WARNING,
            "event stream from unknown endpoint '"
                + h.getEndpoint()
                + "': no configured endpoint has this URL or id; its events are dropped");
        return;
      }
      Session previous = current.put(engine, this);
      if (previous != null && previous != this) {
        previous.superseded = true;
        // on the executor: ending it takes its lock, and this session's is held
        executor.execute(
            () -> previous.end(Status.ABORTED.withDescription("superseded by a newer stream")));
      }
      counted = true;
      health.metrics().streamOpened();
      boolean reconnect = engine.streamHello(instance, resync);
      log(
          Level.INFO,
          String.format(
              "event stream from %s (%s, instance %s) %s",
              engine.url(),
              h.getEngine().isEmpty() ? "engine" : h.getEngine(),
              instance,
              reconnect ? "reconnected at seq " + engine.lastSeq() : "opened"));
    }

    private void batch(EventBatch b) {
      if (!hello) {
        refuse("protocol", Status.INVALID_ARGUMENT.withDescription("send Hello first"));
        return;
      }
      long seq = b.getSeq();
      if (unknown) {
        health.metrics().dropped("unknown_endpoint", b.getEventsCount());
        ack(seq, Ack.Disposition.DROPPED_UNKNOWN_ENDPOINT);
        return;
      }
      if (awaitedSnapshot >= 0) {
        health.metrics().dropped("awaiting_snapshot", b.getEventsCount());
        if (System.nanoTime() - snapshotAskedNanos > SNAPSHOT_RETRY_NANOS) {
          askSnapshot(SnapshotRequest.Reason.RESYNC, engine.lastSeq(), seq);
        }
        ack(seq, Ack.Disposition.SKIPPED_AWAITING_SNAPSHOT);
        return;
      }
      long last = engine.lastSeq();
      if (last < 0) {
        if (seq != 0) {
          // kvgate does not know what this instance did before this batch
          health.metrics().dropped("awaiting_snapshot", b.getEventsCount());
          askSnapshot(SnapshotRequest.Reason.RESYNC, last, seq);
          ack(seq, Ack.Disposition.SKIPPED_AWAITING_SNAPSHOT);
          return;
        }
        // the instance's first batch: its stream is its whole history
        engine.clearForReplacement();
      } else if (seq <= last) {
        health.metrics().dropped("duplicate", b.getEventsCount());
        ack(seq, Ack.Disposition.DUPLICATE);
        return;
      } else if (seq > last + 1) {
        health.metrics().dropped("sequence_gap", b.getEventsCount());
        askSnapshot(SnapshotRequest.Reason.SEQUENCE_GAP, last, seq);
        ack(seq, Ack.Disposition.SKIPPED_AWAITING_SNAPSHOT);
        return;
      }
      long now = System.nanoTime();
      for (KvEvent e : b.getEventsList()) apply(e, now);
      engine.setLastSeq(seq);
      if (awaitedSnapshot < 0) engine.streamApplied();
      if (b.getTimestampUnixNanos() > 0) {
        long wallNanos =
            java.util.concurrent.TimeUnit.MILLISECONDS.toNanos(System.currentTimeMillis());
        health.metrics().delay((wallNanos - b.getTimestampUnixNanos()) / 1e9);
      }
      ack(seq, Ack.Disposition.APPLIED);
    }

    private void apply(KvEvent e, long now) {
      switch (e.getEventCase()) {
        case BLOCK_STORED -> {
          BlockStored s = e.getBlockStored();
          if (!onGpu(s.getTier())) {
            health.metrics().dropped("other_tier", 1);
            return;
          }
          int n = copy(s.getBlockHashesCount(), s::getBlockHashes);
          long parent = s.getParentBlockHash();
          boolean hasParent = s.hasParentBlockHash();
          for (IndexHealth.Target t : engine.targets()) {
            t.route().index().blocksStored(t.state().slot(), scratch, 0, n, parent, hasParent, now);
          }
          health.metrics().events("block_stored", 1);
          health.metrics().blocks("stored", n);
        }
        case BLOCK_REMOVED -> {
          BlockRemoved r = e.getBlockRemoved();
          if (!onGpu(r.getTier())) {
            health.metrics().dropped("other_tier", 1);
            return;
          }
          int n = copy(r.getBlockHashesCount(), r::getBlockHashes);
          for (IndexHealth.Target t : engine.targets()) {
            t.route().index().blocksRemoved(t.state().slot(), scratch, 0, n);
          }
          health.metrics().events("block_removed", 1);
          health.metrics().blocks("removed", n);
        }
        case ALL_BLOCKS_CLEARED -> {
          engine.allBlocksCleared();
          health.metrics().events("all_blocks_cleared", 1);
        }
        case LOAD_REPORT -> {
          load(e.getLoadReport(), now);
          health.metrics().events("load_report", 1);
        }
        default -> health.metrics().dropped("unknown_event", 1);
      }
    }

    private void load(LoadReport l, long now) {
      if (engine.instanceReported(l.getInstanceId())) instance = l.getInstanceId();
      engine.setEngineCachedBlocks(l.hasCachedBlocks() ? l.getCachedBlocks() : -1);
      EngineSignals signals =
          new EngineSignals(l.getWaiting(), l.getRunning(), clamp(l.getKvUtilization()), now);
      for (IndexHealth.Target t : engine.targets()) {
        t.state().setSignals(signals);
      }
      if (l.getCapacityBlocks() > 0 && statedCapacityTokens != null) {
        long tokens = l.getCapacityBlocks() * engineBlockTokens;
        for (IndexHealth.Target t : engine.targets()) {
          statedCapacityTokens.accept(t.state(), tokens);
        }
      }
    }

    private void snapshot(SnapshotChunk c) {
      if (!hello || unknown) {
        health.metrics().dropped(unknown ? "unknown_endpoint" : "protocol", 1);
        return;
      }
      if (c.getRequestId() != awaitedSnapshot
          || !c.getInstanceId().isEmpty() && !c.getInstanceId().equals(instance)) {
        health.metrics().dropped("stale_snapshot", 1);
        return;
      }
      long now = System.nanoTime();
      if (c.getFirst()) {
        engine.snapshotStarted();
        engine.clearForReplacement();
        snapshotBlocks = 0;
      }
      int n = copy(c.getBlockHashesCount(), c::getBlockHashes);
      // parents, when the engine sends one per block, keep the engine's match fast (no holes)
      long[] parents = null;
      if (c.getParentBlockHashesCount() == n && n > 0) {
        if (parentScratch.length < n)
          parentScratch = new long[Math.max(n, parentScratch.length * 2)];
        for (int i = 0; i < n; i++) parentScratch[i] = c.getParentBlockHashes(i);
        parents = parentScratch;
      }
      for (IndexHealth.Target t : engine.targets()) {
        t.route().index().snapshotStored(t.state().slot(), scratch, parents, 0, n, now);
      }
      snapshotBlocks += n;
      if (c.getLast()) {
        awaitedSnapshot = -1;
        engine.setLastSeq(c.getAsOfSeq());
        engine.streamApplied();
        health.metrics().snapshotApplied(snapshotBlocks);
        ack(c.getAsOfSeq(), Ack.Disposition.SNAPSHOT_APPLIED);
      }
    }

    private void askSnapshot(SnapshotRequest.Reason reason, long last, long received) {
      long id = snapshotIds.incrementAndGet();
      awaitedSnapshot = id;
      snapshotAskedNanos = System.nanoTime();
      engine.awaitingSnapshot();
      health
          .metrics()
          .snapshotRequested(
              reason == SnapshotRequest.Reason.SEQUENCE_GAP ? "sequence_gap" : "resync");
      send(
          PublishResponse.newBuilder()
              .setSnapshotRequest(
                  SnapshotRequest.newBuilder()
                      .setRequestId(id)
                      .setReason(reason)
                      .setLastAppliedSeq(Math.max(0, last))
                      .setReceivedSeq(received))
              .build());
    }

    /** A reset found outside the stream (a scrape, requests): ask the engine what it holds. */
    private void resyncFromOutside() {
      try {
        executor.execute(
            () -> {
              synchronized (this) {
                if (closed || engine == null || awaitedSnapshot >= 0) return;
                askSnapshot(SnapshotRequest.Reason.RESYNC, engine.lastSeq(), engine.lastSeq());
              }
            });
      } catch (java.util.concurrent.RejectedExecutionException e) {
        // the listener is shutting down: the stream ends with it
      }
    }

    private int copy(int n, java.util.function.IntToLongFunction hash) {
      if (scratch.length < n) scratch = new long[Math.max(n, scratch.length * 2)];
      for (int i = 0; i < n; i++) scratch[i] = hash.applyAsLong(i);
      return n;
    }

    private void ack(long seq, Ack.Disposition d) {
      send(
          PublishResponse.newBuilder()
              .setAck(Ack.newBuilder().setSeq(seq).setDisposition(d))
              .build());
    }

    private void send(PublishResponse r) {
      if (closed) return;
      try {
        out.onNext(r);
      } catch (RuntimeException e) {
        // the call was cancelled under us: the cancel handler cleans up
      }
    }

    private void refuse(String reason, Status status) {
      health.metrics().streamRefused(reason);
      log(Level.WARNING, "event stream refused: " + status.getDescription());
      end(status);
    }

    /** Ends the stream from kvgate's side. */
    synchronized void end(Status status) {
      if (closed) return;
      try {
        out.onError(status.asRuntimeException());
      } catch (RuntimeException ignored) {
        // already cancelled
      }
      lost();
    }

    private synchronized void lost() {
      if (closed && !counted) return;
      closed = true;
      if (counted) {
        counted = false;
        health.metrics().streamClosed();
        current.remove(engine, this);
        engine.streamLost(resync);
      }
    }
  }

  private static boolean onGpu(StorageTier t) {
    return t == StorageTier.STORAGE_TIER_UNSPECIFIED
        || t == StorageTier.STORAGE_TIER_GPU
        || t == StorageTier.UNRECOGNIZED;
  }

  private static double clamp(double v) {
    return Double.isFinite(v) ? Math.max(0, Math.min(1, v)) : 0;
  }
}
