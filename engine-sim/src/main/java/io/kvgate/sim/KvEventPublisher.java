package io.kvgate.sim;

import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import io.kvgate.proto.v1.Ack;
import io.kvgate.proto.v1.EventBatch;
import io.kvgate.proto.v1.Hello;
import io.kvgate.proto.v1.KvEventServiceGrpc;
import io.kvgate.proto.v1.PublishRequest;
import io.kvgate.proto.v1.PublishResponse;
import io.kvgate.proto.v1.SnapshotChunk;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Objects;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;

/**
 * One engine's KV event stream to kvgate ({@code kvgate.v1.KvEventService/Publish}): the handle
 * {@link SimEngine#publishKvEvents} returns, and the network side of the publishing.
 *
 * <p><b>Division of work.</b> The engine side ({@link KvEventRecorder}, on the engine's event loop)
 * turns the prefix cache's changes into {@link EventBatch}es with consecutive {@code seq}s and
 * builds snapshots. This class owns everything about the stream, on a thread of its own (one daemon
 * thread per publisher): the gRPC channel (netty-shaded transport, plaintext), the current call,
 * the batches not yet acknowledged, flow control and reconnects. The engine's event loop never
 * waits for it: it hands batches over with {@code execute}; a snapshot request travels back to the
 * event loop, which reads the pool and hands the listing over in turn. gRPC's callbacks hop onto
 * this thread too, so its state needs no lock.
 *
 * <p><b>Protocol</b> (see {@code kv_events.proto}). Each stream starts with {@code Hello}
 * (endpoint, the engine process's instance id, {@code HASH_SCHEME_KVGATE_TEXT_XXH64} with {@code 4
 * * blockSizeTokens} chars per block, model, engine {@code "kvgate-sim"}), then resends every batch
 * not yet acknowledged, in order (kvgate skips duplicates), then new ones. An {@link Ack} releases
 * every batch up to its {@code seq}. A {@code SnapshotRequest} is answered with {@link
 * SnapshotChunk}s (at most {@value #SNAPSHOT_CHUNK_HASHES} hashes each) of every block in the
 * prefix cache as of the batch the engine side flushed just before taking it ({@code as_of_seq});
 * the chunks go out right after that batch, before any later one, since kvgate resumes at {@code
 * as_of_seq + 1}.
 *
 * <p><b>Flow control and bounds.</b> Messages are written only while the call {@code isReady()};
 * the rest wait. Batches not yet acknowledged, written or not, are kept in one outbox of at most
 * {@link Options#maxUnackedBatches()}; on overflow the oldest is dropped and counted ({@code
 * kvgate_sim_kv_event_batches_dropped_total}). A dropped batch kvgate never got shows up there as a
 * gap in {@code seq}, and kvgate asks for a snapshot: that is the designed recovery, so memory
 * stays bounded however long kvgate is away or slow.
 *
 * <p><b>Reconnects.</b> A stream that fails or ends (kvgate not up yet, restarted, unreachable) is
 * opened again after an exponential backoff with jitter ({@link Options#minBackoff()} doubling to
 * {@link Options#maxBackoff()}, each delay drawn from its upper half); the backoff resets once a
 * stream gets an ack. An engine {@linkplain SimEngine#restart() restart} cancels the stream and
 * opens a new one at once, with the new instance id and {@code seq} from 0; batches of the old
 * process are discarded.
 *
 * <p>Thread-safe: every public method may be called from any thread.
 */
public final class KvEventPublisher {

  /** Hashes per {@link SnapshotChunk} at most. */
  public static final int SNAPSHOT_CHUNK_HASHES = 50_000;

  private static final System.Logger LOG = System.getLogger(KvEventPublisher.class.getName());

  /**
   * How an engine publishes. Intervals are wall-clock (they pace network messages, not the modelled
   * GPU).
   *
   * @param batchInterval how often pending events are flushed as one batch (only when there are
   *     any)
   * @param loadInterval how often a {@code LoadReport} is sent (in a batch of its own, together
   *     with the events pending then)
   * @param maxUnackedBatches bound of the outbox of batches not yet acknowledged
   * @param minBackoff first reconnect delay
   * @param maxBackoff largest reconnect delay
   */
  public record Options(
      Duration batchInterval,
      Duration loadInterval,
      int maxUnackedBatches,
      Duration minBackoff,
      Duration maxBackoff) {

    /** 20 ms batches, 100 ms load reports, 1024 unacknowledged batches, 100 ms to 5 s backoff. */
    public static final Options DEFAULTS =
        new Options(
            Duration.ofMillis(20),
            Duration.ofMillis(100),
            1024,
            Duration.ofMillis(100),
            Duration.ofSeconds(5));

    public Options {
      Objects.requireNonNull(batchInterval, "batchInterval");
      Objects.requireNonNull(loadInterval, "loadInterval");
      Objects.requireNonNull(minBackoff, "minBackoff");
      Objects.requireNonNull(maxBackoff, "maxBackoff");
      if (batchInterval.toMillis() < 1)
        throw new IllegalArgumentException("the KV event batch interval must be at least 1ms");
      if (loadInterval.toMillis() < 1)
        throw new IllegalArgumentException("the KV event load interval must be at least 1ms");
      if (maxUnackedBatches < 1)
        throw new IllegalArgumentException("maxUnackedBatches must be at least 1");
      if (minBackoff.toMillis() < 1 || maxBackoff.compareTo(minBackoff) < 0)
        throw new IllegalArgumentException("the backoff must be >= 1ms and max >= min");
    }

    public Options withBatchInterval(Duration d) {
      return new Options(d, loadInterval, maxUnackedBatches, minBackoff, maxBackoff);
    }

    public Options withLoadInterval(Duration d) {
      return new Options(batchInterval, d, maxUnackedBatches, minBackoff, maxBackoff);
    }

    public Options withMaxUnackedBatches(int n) {
      return new Options(batchInterval, loadInterval, n, minBackoff, maxBackoff);
    }

    public Options withBackoff(Duration min, Duration max) {
      return new Options(batchInterval, loadInterval, maxUnackedBatches, min, max);
    }
  }

  /**
   * A {@code HOST:PORT} (IPv6 hosts in brackets, {@code [::1]:9090}).
   *
   * @param host the host, without brackets
   * @param port 1..65535
   */
  public record Target(String host, int port) {

    /**
     * Parses {@code HOST:PORT}.
     *
     * @throws IllegalArgumentException with a message naming the expected form
     */
    public static Target parse(String hostPort) {
      String s = hostPort == null ? "" : hostPort.trim();
      int colon = s.lastIndexOf(':');
      String host = colon > 0 ? s.substring(0, colon) : "";
      if (host.startsWith("[") && host.endsWith("]")) host = host.substring(1, host.length() - 1);
      int port = -1;
      if (colon > 0) {
        try {
          port = Integer.parseInt(s.substring(colon + 1));
        } catch (NumberFormatException e) {
          port = -1;
        }
      }
      if (host.isEmpty() || host.contains("/") || port < 1 || port > 65535) {
        throw new IllegalArgumentException(
            "the KV event target must be HOST:PORT with a port in 1..65535, e.g. 127.0.0.1:9090"
                + " (got '"
                + hostPort
                + "')");
      }
      return new Target(host, port);
    }

    @Override
    public String toString() {
      return (host.contains(":") ? "[" + host + "]" : host) + ":" + port;
    }
  }

  private final Target target;
  private final Options options;
  private final ManagedChannel channel;
  private final KvEventServiceGrpc.KvEventServiceStub stub;
  private final ScheduledThreadPoolExecutor thread;
  private final Promise<Void> firstAck = Promise.promise();
  private final Promise<Void> closed = Promise.promise();
  private volatile boolean connected;

  // ---- the engine side, set once by the engine ----
  private volatile SnapshotSource snapshots;
  private volatile Runnable onClose;

  // ---- confined to `thread` ----
  private Hello hello;
  private EngineMetrics metrics;
  private final ArrayList<EventBatch> unacked = new ArrayList<>();
  private int cursor; // unacked[0, cursor) are written on the current stream
  private final ArrayDeque<PublishRequest> snapshotChunks = new ArrayDeque<>();
  private long snapshotAsOfSeq;
  private Stream stream;
  private int failures;
  private boolean streamedBefore;
  private ScheduledFuture<?> retry;
  private boolean shut;

  /** The engine side's answer to a {@code SnapshotRequest}. */
  interface SnapshotSource {
    /**
     * Flushes pending events as a batch, then hands {@link #offerSnapshot} the listing of the
     * prefix cache; called from the publisher's thread, so it must hop onto the engine's loop.
     */
    void snapshotRequested(Object stream, long requestId);
  }

  KvEventPublisher(Target target, Options options, String threadName) {
    this.target = target;
    this.options = options;
    this.thread =
        new ScheduledThreadPoolExecutor(
            1,
            r -> {
              Thread t = new Thread(r, threadName);
              t.setDaemon(true);
              return t;
            });
    this.thread.setRemoveOnCancelPolicy(true);
    this.channel =
        Grpc.newChannelBuilderForAddress(
                target.host(), target.port(), InsecureChannelCredentials.create())
            .build();
    this.stub = KvEventServiceGrpc.newStub(channel);
  }

  /** Where the stream goes. */
  public Target target() {
    return target;
  }

  public Options options() {
    return options;
  }

  /**
   * Completes at the first ack showing kvgate applies this engine's events ({@code APPLIED}, {@code
   * DUPLICATE}, {@code SNAPSHOT_APPLIED}): acks of a batch kvgate dropped for an unknown endpoint
   * or skipped while it awaits a snapshot do not count. Fails if kvgate refuses the stream ({@code
   * FAILED_PRECONDITION}: another hash scheme or block size) before that, or the publisher is
   * closed first.
   */
  public Future<Void> firstAck() {
    return firstAck.future();
  }

  /** True while a stream is open and kvgate has answered on it. */
  public boolean connected() {
    return connected;
  }

  /**
   * Stops publishing: the engine stops recording events, the stream is cancelled, the channel shut
   * down. Idempotent; completes when the publisher's thread has finished.
   */
  public Future<Void> close() {
    Runnable engineSide = onClose;
    if (engineSide != null) engineSide.run();
    run(this::shutdown);
    return closed.future();
  }

  // ---- called by the engine side ------------------------------------------------------------

  void snapshots(SnapshotSource source, Runnable onClose) {
    this.snapshots = source;
    this.onClose = onClose;
  }

  /** Opens the stream of a (new) engine process: discards every batch of the previous one. */
  void start(Hello hello, EngineMetrics metrics) {
    run(
        () -> {
          this.hello = hello;
          this.metrics = metrics;
          unacked.clear();
          cursor = 0;
          snapshotChunks.clear();
          failures = 0;
          streamedBefore = false;
          if (retry != null) retry.cancel(false);
          retry = null;
          Stream old = stream;
          stream = null;
          connected = false;
          if (old != null) old.out.cancel("the engine restarted", null);
          connect();
        });
  }

  /** Queues a batch of the current process. */
  void offer(EventBatch batch, String instanceId) {
    run(
        () -> {
          if (hello == null || !hello.getInstanceId().equals(instanceId)) return;
          unacked.add(batch);
          if (unacked.size() > options.maxUnackedBatches()) {
            unacked.remove(0);
            if (cursor > 0) cursor--;
            metrics.kvBatchesDropped++;
          }
          drain();
        });
  }

  /**
   * Queues the answer to the snapshot request {@code requestId} made on {@code streamToken}: the
   * chunks listing {@code hashes} (with {@code parents}, the same length) as of batch {@code
   * asOfSeq}. Dropped if the stream has changed since (the new stream's kvgate did not ask) or the
   * process has.
   */
  void offerSnapshot(
      Object streamToken,
      long requestId,
      long asOfSeq,
      String instanceId,
      long[] hashes,
      long[] parents) {
    run(
        () -> {
          if (streamToken != stream || !hello.getInstanceId().equals(instanceId)) return;
          snapshotChunks.clear();
          snapshotAsOfSeq = asOfSeq;
          int at = 0;
          do {
            int end = Math.min(hashes.length, at + SNAPSHOT_CHUNK_HASHES);
            SnapshotChunk.Builder c =
                SnapshotChunk.newBuilder()
                    .setRequestId(requestId)
                    .setAsOfSeq(asOfSeq)
                    .setInstanceId(instanceId)
                    .setFirst(at == 0)
                    .setLast(end == hashes.length);
            for (int i = at; i < end; i++) {
              c.addBlockHashes(hashes[i]);
              c.addParentBlockHashes(parents[i]);
            }
            snapshotChunks.add(PublishRequest.newBuilder().setSnapshot(c).build());
            at = end;
          } while (at < hashes.length);
          drain();
        });
  }

  // ---- the publisher's thread -----------------------------------------------------------------

  /** Runs {@code task} on the publisher's thread; a no-op once it has shut down. */
  private void run(Runnable task) {
    try {
      thread.execute(task);
    } catch (RejectedExecutionException e) {
      // closed: nothing to publish any more
    }
  }

  private void connect() {
    retry = null;
    if (shut) return;
    if (streamedBefore) metrics.kvReconnects++;
    streamedBefore = true;
    Stream s = new Stream();
    stream = s;
    stub.publish(s);
    s.out.onNext(PublishRequest.newBuilder().setHello(hello).build());
    cursor = 0;
    snapshotChunks.clear();
    drain();
  }

  /**
   * Writes what is due while the call accepts messages: batches in order, a snapshot after its
   * batch.
   */
  private void drain() {
    Stream s = stream;
    if (s == null) return;
    while (s.out.isReady()) {
      boolean snapshotDue =
          !snapshotChunks.isEmpty()
              && (cursor >= unacked.size() || unacked.get(cursor).getSeq() > snapshotAsOfSeq);
      if (snapshotDue) {
        s.out.onNext(snapshotChunks.poll());
      } else if (cursor < unacked.size()) {
        s.out.onNext(PublishRequest.newBuilder().setBatch(unacked.get(cursor++)).build());
      } else {
        return;
      }
    }
  }

  private void onResponse(Stream s, PublishResponse r) {
    if (s != stream) return;
    if (!connected) {
      connected = true;
      metrics.kvStreamConnected = true;
    }
    if (r.hasAck()) {
      Ack ack = r.getAck();
      failures = 0;
      int n = 0;
      while (n < unacked.size() && unacked.get(n).getSeq() <= ack.getSeq()) n++;
      if (n > 0) {
        unacked.subList(0, n).clear();
        cursor = Math.max(0, cursor - n);
      }
      switch (ack.getDisposition()) {
        case DROPPED_UNKNOWN_ENDPOINT -> {
          if (!s.warnedUnknown) {
            s.warnedUnknown = true;
            LOG.log(
                System.Logger.Level.WARNING,
                "kvgate at {0} does not know endpoint ''{1}''; its events are dropped until"
                    + " kvgate's configuration lists it",
                target,
                hello.getEndpoint());
          }
        }
        case SKIPPED_AWAITING_SNAPSHOT -> {}
        default -> firstAck.tryComplete();
      }
    } else if (r.hasSnapshotRequest()) {
      SnapshotSource source = snapshots;
      if (source != null) source.snapshotRequested(s, r.getSnapshotRequest().getRequestId());
    }
  }

  private void onEnd(Stream s, Throwable error) {
    if (s != stream) return;
    stream = null;
    connected = false;
    metrics.kvStreamConnected = false;
    Status status = error == null ? Status.OK : Status.fromThrowable(error);
    if (status.getCode() == Status.Code.FAILED_PRECONDITION) {
      String why =
          "kvgate at "
              + target
              + " refused the KV event stream: "
              + status.getDescription()
              + " (the engine hashes "
              + hello.getHashScheme()
              + " with "
              + hello.getBlockSizeChars()
              + "-char blocks)";
      LOG.log(System.Logger.Level.WARNING, why);
      firstAck.tryFail(new IllegalStateException(why));
    }
    if (shut) return;
    long capMs = options.maxBackoff().toMillis();
    long baseMs = options.minBackoff().toMillis() << Math.min(failures, 20);
    long delayMs = Math.min(capMs, baseMs);
    delayMs = delayMs / 2 + ThreadLocalRandom.current().nextLong(delayMs / 2 + 1);
    failures++;
    retry = thread.schedule(this::connect, Math.max(1, delayMs), TimeUnit.MILLISECONDS);
  }

  private void shutdown() {
    if (shut) return;
    shut = true;
    if (retry != null) retry.cancel(false);
    Stream s = stream;
    stream = null;
    connected = false;
    if (metrics != null) metrics.kvStreamConnected = false;
    if (s != null) s.out.cancel("the publisher is closed", null);
    channel.shutdownNow();
    firstAck.tryFail(new IllegalStateException("the KV event publisher was closed"));
    thread.shutdown();
    closed.tryComplete();
  }

  /** One call of {@code Publish}; its callbacks hop onto the publisher's thread. */
  private final class Stream implements ClientResponseObserver<PublishRequest, PublishResponse> {
    ClientCallStreamObserver<PublishRequest> out;
    boolean warnedUnknown;

    @Override
    public void beforeStart(ClientCallStreamObserver<PublishRequest> requestStream) {
      out = requestStream;
      requestStream.setOnReadyHandler(() -> run(() -> drainIfCurrent(this)));
    }

    @Override
    public void onNext(PublishResponse value) {
      run(() -> onResponse(this, value));
    }

    @Override
    public void onError(Throwable t) {
      run(() -> onEnd(this, t));
    }

    @Override
    public void onCompleted() {
      run(() -> onEnd(this, null));
    }
  }

  private void drainIfCurrent(Stream s) {
    if (s == stream) drain();
  }
}
