package io.kvgate.gateway.index;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;

import io.grpc.Channel;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import io.kvgate.proto.v1.Ack;
import io.kvgate.proto.v1.AllBlocksCleared;
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
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/** A test engine's side of one KV-event stream: sends messages, queues kvgate's answers. */
final class EventStream implements AutoCloseable {

  final BlockingQueue<PublishResponse> answers = new LinkedBlockingQueue<>();
  final CompletableFuture<Status> ended = new CompletableFuture<>();
  private final StreamObserver<PublishRequest> out;

  EventStream(Channel channel) {
    out =
        KvEventServiceGrpc.newStub(channel)
            .publish(
                new StreamObserver<>() {
                  @Override
                  public void onNext(PublishResponse r) {
                    answers.add(r);
                  }

                  @Override
                  public void onError(Throwable t) {
                    ended.complete(Status.fromThrowable(t));
                  }

                  @Override
                  public void onCompleted() {
                    ended.complete(Status.OK);
                  }
                });
  }

  EventStream hello(String endpoint, String instance, int blockSizeChars) {
    return hello(endpoint, instance, blockSizeChars, HashScheme.HASH_SCHEME_KVGATE_TEXT_XXH64);
  }

  EventStream hello(String endpoint, String instance, int blockSizeChars, HashScheme scheme) {
    out.onNext(
        PublishRequest.newBuilder()
            .setHello(
                Hello.newBuilder()
                    .setEndpoint(endpoint)
                    .setInstanceId(instance)
                    .setHashScheme(scheme)
                    .setBlockSizeChars(blockSizeChars)
                    .setBlockSizeTokens(16)
                    .setEngine("test"))
            .build());
    return this;
  }

  void batch(long seq, KvEvent... events) {
    EventBatch.Builder b = EventBatch.newBuilder().setSeq(seq);
    for (KvEvent e : events) b.addEvents(e);
    out.onNext(PublishRequest.newBuilder().setBatch(b).build());
  }

  void snapshot(
      long requestId, long asOf, String instance, boolean first, boolean last, long... hashes) {
    SnapshotChunk.Builder c =
        SnapshotChunk.newBuilder()
            .setRequestId(requestId)
            .setAsOfSeq(asOf)
            .setInstanceId(instance)
            .setFirst(first)
            .setLast(last);
    for (long h : hashes) c.addBlockHashes(h);
    out.onNext(PublishRequest.newBuilder().setSnapshot(c).build());
  }

  static KvEvent stored(long parent, long... hashes) {
    BlockStored.Builder b = BlockStored.newBuilder().setTokenCount(16 * hashes.length);
    if (parent != 0) b.setParentBlockHash(parent);
    for (long h : hashes) b.addBlockHashes(h);
    return KvEvent.newBuilder().setBlockStored(b).build();
  }

  static KvEvent removed(long... hashes) {
    BlockRemoved.Builder b = BlockRemoved.newBuilder();
    for (long h : hashes) b.addBlockHashes(h);
    return KvEvent.newBuilder().setBlockRemoved(b).build();
  }

  static KvEvent cleared() {
    return KvEvent.newBuilder().setAllBlocksCleared(AllBlocksCleared.getDefaultInstance()).build();
  }

  static KvEvent load(
      String instance, int running, int waiting, double kv, long capacity, long cached) {
    return KvEvent.newBuilder()
        .setLoadReport(
            LoadReport.newBuilder()
                .setInstanceId(instance)
                .setRunning(running)
                .setWaiting(waiting)
                .setKvUtilization(kv)
                .setCapacityBlocks(capacity)
                .setCachedBlocks(cached))
        .build();
  }

  PublishResponse next() throws InterruptedException {
    PublishResponse r = answers.poll(10, TimeUnit.SECONDS);
    assertNotNull(r, "kvgate answered nothing within 10 s");
    return r;
  }

  Ack ack(long seq, Ack.Disposition d) throws InterruptedException {
    PublishResponse r = next();
    assertEquals(PublishResponse.KindCase.ACK, r.getKindCase(), r.toString());
    assertEquals(seq, r.getAck().getSeq(), r.toString());
    assertEquals(d, r.getAck().getDisposition(), r.toString());
    return r.getAck();
  }

  SnapshotRequest snapshotRequest(SnapshotRequest.Reason reason) throws InterruptedException {
    PublishResponse r = next();
    assertEquals(PublishResponse.KindCase.SNAPSHOT_REQUEST, r.getKindCase(), r.toString());
    assertEquals(reason, r.getSnapshotRequest().getReason(), r.toString());
    return r.getSnapshotRequest();
  }

  Status ended() throws Exception {
    return ended.get(10, TimeUnit.SECONDS);
  }

  void complete() {
    out.onCompleted();
  }

  @Override
  public void close() {
    try {
      out.onCompleted();
    } catch (RuntimeException ignored) {
      // already ended
    }
  }
}
