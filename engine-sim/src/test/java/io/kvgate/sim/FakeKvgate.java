package io.kvgate.sim;

import io.grpc.Grpc;
import io.grpc.InsecureServerCredentials;
import io.grpc.Server;
import io.grpc.stub.StreamObserver;
import io.kvgate.proto.v1.Ack;
import io.kvgate.proto.v1.EventBatch;
import io.kvgate.proto.v1.Hello;
import io.kvgate.proto.v1.KvEvent;
import io.kvgate.proto.v1.KvEventServiceGrpc;
import io.kvgate.proto.v1.PublishRequest;
import io.kvgate.proto.v1.PublishResponse;
import io.kvgate.proto.v1.SnapshotChunk;
import io.kvgate.proto.v1.SnapshotRequest;
import java.io.IOException;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;

/**
 * A minimal kvgate {@code KvEventService} for the publisher's tests, on a real netty-shaded port:
 * applies batches in order to an index of hashes (skipping duplicates), acknowledges each, records
 * every message, and sends snapshot requests on demand. Thread-safe (one lock).
 */
final class FakeKvgate extends KvEventServiceGrpc.KvEventServiceImplBase {

  final List<Hello> hellos = new ArrayList<>();
  final List<EventBatch> batches = new ArrayList<>();
  final List<SnapshotChunk> chunks = new ArrayList<>();
  final Set<Long> index = new HashSet<>();
  private final Set<Long> building = new HashSet<>();
  String instanceId;
  long lastSeq = -1;
  long seqAtFirstChunk = -1;
  private StreamObserver<PublishResponse> current;
  private Server server;

  /** Starts listening on {@code port} (0: ephemeral); returns the bound port. */
  synchronized int start(int port) throws IOException {
    server =
        Grpc.newServerBuilderForPort(port, InsecureServerCredentials.create())
            .addService(this)
            .build()
            .start();
    return server.getPort();
  }

  /** Stops listening and breaks open streams; idempotent. */
  void stop() throws InterruptedException {
    Server s;
    synchronized (this) {
      s = server;
      server = null;
      current = null;
    }
    if (s == null) return;
    s.shutdownNow();
    s.awaitTermination(10, TimeUnit.SECONDS);
  }

  synchronized int helloCount() {
    return hellos.size();
  }

  synchronized Hello lastHello() {
    return hellos.get(hellos.size() - 1);
  }

  synchronized Set<Long> indexCopy() {
    return new HashSet<>(index);
  }

  synchronized boolean connected() {
    return current != null;
  }

  synchronized List<EventBatch> batchesCopy() {
    return new ArrayList<>(batches);
  }

  synchronized List<SnapshotChunk> chunksCopy() {
    return new ArrayList<>(chunks);
  }

  /** Asks the connected engine for a snapshot. */
  synchronized void requestSnapshot(long requestId) {
    current.onNext(
        PublishResponse.newBuilder()
            .setSnapshotRequest(
                SnapshotRequest.newBuilder()
                    .setRequestId(requestId)
                    .setReason(SnapshotRequest.Reason.RESYNC)
                    .setLastAppliedSeq(Math.max(0, lastSeq)))
            .build());
  }

  @Override
  public StreamObserver<PublishRequest> publish(StreamObserver<PublishResponse> out) {
    return new StreamObserver<>() {
      @Override
      public void onNext(PublishRequest r) {
        synchronized (FakeKvgate.this) {
          current = out;
          switch (r.getKindCase()) {
            case HELLO -> {
              hellos.add(r.getHello());
              if (!r.getHello().getInstanceId().equals(instanceId)) {
                instanceId = r.getHello().getInstanceId();
                index.clear();
                lastSeq = -1;
              }
            }
            case BATCH -> apply(out, r.getBatch());
            case SNAPSHOT -> snapshot(out, r.getSnapshot());
            default -> {}
          }
        }
      }

      @Override
      public void onError(Throwable t) {
        synchronized (FakeKvgate.this) {
          if (current == out) current = null;
        }
      }

      @Override
      public void onCompleted() {
        synchronized (FakeKvgate.this) {
          if (current == out) current = null;
        }
        out.onCompleted();
      }
    };
  }

  private void apply(StreamObserver<PublishResponse> out, EventBatch b) {
    batches.add(b);
    if (b.getSeq() <= lastSeq && lastSeq >= 0) {
      ack(out, b.getSeq(), Ack.Disposition.DUPLICATE);
      return;
    }
    for (KvEvent e : b.getEventsList()) {
      switch (e.getEventCase()) {
        case BLOCK_STORED -> index.addAll(e.getBlockStored().getBlockHashesList());
        case BLOCK_REMOVED -> e.getBlockRemoved().getBlockHashesList().forEach(index::remove);
        case ALL_BLOCKS_CLEARED -> index.clear();
        default -> {}
      }
    }
    lastSeq = b.getSeq();
    ack(out, b.getSeq(), Ack.Disposition.APPLIED);
  }

  private void snapshot(StreamObserver<PublishResponse> out, SnapshotChunk c) {
    chunks.add(c);
    if (c.getFirst()) {
      building.clear();
      seqAtFirstChunk = lastSeq;
    }
    building.addAll(c.getBlockHashesList());
    if (c.getLast()) {
      index.clear();
      index.addAll(building);
      lastSeq = c.getAsOfSeq();
      ack(out, c.getAsOfSeq(), Ack.Disposition.SNAPSHOT_APPLIED);
    }
  }

  private static void ack(StreamObserver<PublishResponse> out, long seq, Ack.Disposition d) {
    out.onNext(
        PublishResponse.newBuilder()
            .setAck(Ack.newBuilder().setSeq(seq).setDisposition(d))
            .build());
  }
}
