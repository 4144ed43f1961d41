package io.kvgate.gateway.index;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import io.kvgate.gateway.config.GatewayConfig;
import io.kvgate.gateway.fleet.ModelRoute;
import io.kvgate.proto.v1.Ack.Disposition;
import io.kvgate.proto.v1.HashScheme;
import io.kvgate.proto.v1.SnapshotRequest;
import io.kvgate.routing.EndpointState;
import io.kvgate.routing.prefix.LruPrefixIndex;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Contract tests of {@code KvEventService} on an in-process gRPC server: each protocol step of
 * kv_events.proto against the index it feeds.
 */
class KvEventIngestTest {

  static final String E0 = "http://10.0.0.1:8000";
  static final String E1 = "http://10.0.0.2:8000";
  static final int CHARS = GatewayConfig.Routing.DEFAULT.blockSizeChars();

  PrometheusMeterRegistry registry;
  ModelRoute chat;
  ModelRoute code;
  IndexHealth health;
  Server server;
  ManagedChannel channel;
  ExecutorService executor;
  final Map<EndpointState, Long> statedTokens = new HashMap<>();

  @BeforeEach
  void start() throws Exception {
    registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    chat =
        new ModelRoute(
            GatewayConfig.of("chat", List.of(E0, E1), "cache-aware").models().get(0),
            GatewayConfig.Routing.DEFAULT);
    // a second model on the first engine: events reach both indexes
    code =
        new ModelRoute(
            GatewayConfig.of("code", List.of(E0), "cache-aware").models().get(0),
            GatewayConfig.Routing.DEFAULT);
    health = new IndexHealth(List.of(chat, code), new IndexMetrics(registry), null, 16);
    executor = Executors.newSingleThreadExecutor();
    KvEventIngest ingest =
        new KvEventIngest(
            health,
            CHARS,
            16,
            (e, tokens) -> {
              synchronized (statedTokens) {
                statedTokens.put(e, tokens);
              }
            },
            executor,
            null);
    String name = InProcessServerBuilder.generateName();
    server =
        InProcessServerBuilder.forName(name).executor(executor).addService(ingest).build().start();
    channel = InProcessChannelBuilder.forName(name).build();
  }

  @AfterEach
  void stop() {
    channel.shutdownNow();
    server.shutdownNow();
    executor.shutdownNow();
  }

  EndpointState e0() {
    return chat.endpoints().get(0);
  }

  long[] held(ModelRoute r, int slot) {
    long[] keys = ((LruPrefixIndex) r.localIndex()).blocksMostRecentFirst(slot);
    java.util.Arrays.sort(keys);
    return keys;
  }

  /** A counter by its Prometheus name ({@code _total} is the exposition's suffix). */
  double counter(String name, String... tags) {
    var c = registry.find(name.replaceFirst("_total$", "")).tags(tags).counter();
    return c == null ? 0 : c.count();
  }

  @Test
  void batchesFeedEveryIndexHoldingTheEngineAndAreAcknowledged() throws Exception {
    try (EventStream s = new EventStream(channel).hello(E0, "i1", CHARS)) {
      s.batch(0, EventStream.stored(0, 11, 12, 13));
      s.ack(0, Disposition.APPLIED);
      assertArrayEquals(new long[] {11, 12, 13}, held(chat, 0));
      assertArrayEquals(new long[] {11, 12, 13}, held(code, 0));
      assertArrayEquals(new long[0], held(chat, 1), "the other engine holds nothing");
      assertEquals(IndexMode.PRECISE, health.mode(e0()));
      s.batch(1, EventStream.removed(13), EventStream.stored(12, 14));
      s.ack(1, Disposition.APPLIED);
      assertArrayEquals(new long[] {11, 12, 14}, held(chat, 0));
      assertEquals(2, counter("kvgate_kv_events_total", "type", "block_stored"));
      assertEquals(0, chat.index().holes(0), "stored with their parents: prefix-closed");
      assertEquals(1, counter("kvgate_kv_event_blocks_total", "op", "removed"));
    }
  }

  @Test
  void aResentBatchIsSkippedAndAGapAsksForASnapshotThatReplacesTheEntries() throws Exception {
    try (EventStream s = new EventStream(channel).hello(E0, "i1", CHARS)) {
      s.batch(0, EventStream.stored(0, 1, 2));
      s.ack(0, Disposition.APPLIED);
      s.batch(0, EventStream.stored(0, 1, 2));
      s.ack(0, Disposition.DUPLICATE);
      s.batch(2, EventStream.stored(0, 7));
      SnapshotRequest req = s.snapshotRequest(SnapshotRequest.Reason.SEQUENCE_GAP);
      assertEquals(0, req.getLastAppliedSeq());
      assertEquals(2, req.getReceivedSeq());
      s.ack(2, Disposition.SKIPPED_AWAITING_SNAPSHOT);
      assertEquals(IndexMode.STALE, health.mode(e0()));
      s.batch(3, EventStream.stored(0, 8));
      s.ack(3, Disposition.SKIPPED_AWAITING_SNAPSHOT);
      // the snapshot as of seq 3: block 1 was evicted meanwhile, 2, 7 and 8 are held
      s.snapshot(req.getRequestId(), 3, "i1", true, false, 2, 7);
      s.snapshot(req.getRequestId(), 3, "i1", false, true, 8);
      s.ack(3, Disposition.SNAPSHOT_APPLIED);
      assertArrayEquals(new long[] {2, 7, 8}, held(chat, 0));
      assertEquals(IndexMode.PRECISE, health.mode(e0()));
      s.batch(4, EventStream.stored(8, 9));
      s.ack(4, Disposition.APPLIED);
      assertArrayEquals(new long[] {2, 7, 8, 9}, held(chat, 0));
      assertEquals(
          1, counter("kvgate_kv_event_snapshots_requested_total", "reason", "sequence_gap"));
    }
  }

  @Test
  void aStreamLossFallsBackToApproximateAndAReconnectContinuesWithoutASnapshot() throws Exception {
    EventStream s = new EventStream(channel).hello(E0, "i1", CHARS);
    s.batch(0, EventStream.stored(0, 1));
    s.ack(0, Disposition.APPLIED);
    s.complete();
    s.ended();
    TestWait.until(
        "approximate after the stream ended", () -> health.mode(e0()) == IndexMode.APPROXIMATE);
    assertArrayEquals(new long[] {1}, held(chat, 0), "what the engine said is kept");
    try (EventStream again = new EventStream(channel).hello(E0, "i1", CHARS)) {
      again.batch(1, EventStream.stored(1, 2));
      again.ack(1, Disposition.APPLIED);
      assertEquals(IndexMode.PRECISE, health.mode(e0()));
      assertArrayEquals(new long[] {1, 2}, held(chat, 0));
      // events lost while disconnected: a gap
      again.batch(5, EventStream.stored(0, 3));
      again.snapshotRequest(SnapshotRequest.Reason.SEQUENCE_GAP);
    }
  }

  @Test
  void aNewInstanceIdIsARestartThatClearsTheEngineAtOnce() throws Exception {
    try (EventStream s = new EventStream(channel).hello(E0, "before", CHARS)) {
      s.batch(0, EventStream.stored(0, 1, 2, 3));
      s.ack(0, Disposition.APPLIED);
    }
    TestWait.until("stream closed", () -> !health.of(e0()).streamLive());
    try (EventStream s = new EventStream(channel).hello(E0, "after", CHARS)) {
      TestWait.until(
          "restart cleared and counted",
          () ->
              counter("kvgate_index_resets_total", "engine", E0, "cause", "instance_restart") == 1);
      assertEquals(0, held(chat, 0).length);
      assertEquals(0, held(code, 0).length);
      assertEquals(IndexMode.STALE, health.mode(e0()));
      s.batch(0, EventStream.stored(0, 9));
      s.ack(0, Disposition.APPLIED);
      assertArrayEquals(new long[] {9}, held(chat, 0));
      assertEquals(IndexMode.PRECISE, health.mode(e0()));
      assertEquals(1, health.of(e0()).resets());
    }
  }

  @Test
  void aNewInstanceMidStreamAsksWhatItHoldsUnlessItStartsAtItsFirstBatch() throws Exception {
    // kvgate approximately believed something; the engine's first batch is seq 0: its history
    chat.index().blocksStored(0, new long[] {77}, 0, 1, System.nanoTime());
    try (EventStream s = new EventStream(channel).hello(E0, "fresh", CHARS)) {
      s.batch(0, EventStream.stored(0, 5));
      s.ack(0, Disposition.APPLIED);
      assertArrayEquals(new long[] {5}, held(chat, 0), "replaced by the instance's own history");
    }
    // the other engine was running before kvgate heard of it: its seq 40 asks for a snapshot
    try (EventStream s = new EventStream(channel).hello(E1, "old", CHARS)) {
      s.batch(40, EventStream.stored(0, 6));
      SnapshotRequest req = s.snapshotRequest(SnapshotRequest.Reason.RESYNC);
      s.ack(40, Disposition.SKIPPED_AWAITING_SNAPSHOT);
      s.snapshot(req.getRequestId(), 40, "old", true, true, 6, 16);
      s.ack(40, Disposition.SNAPSHOT_APPLIED);
      assertArrayEquals(new long[] {6, 16}, held(chat, 1));
    }
  }

  @Test
  void allBlocksClearedClearsAndCountsAndTheStreamStaysPrecise() throws Exception {
    try (EventStream s = new EventStream(channel).hello(E0, "i1", CHARS)) {
      s.batch(0, EventStream.stored(0, 1, 2));
      s.ack(0, Disposition.APPLIED);
      s.batch(1, EventStream.cleared(), EventStream.stored(0, 3));
      s.ack(1, Disposition.APPLIED);
      assertArrayEquals(new long[] {3}, held(chat, 0));
      assertEquals(
          1, counter("kvgate_index_resets_total", "engine", E0, "cause", "all_blocks_cleared"));
      assertEquals(IndexMode.PRECISE, health.mode(e0()));
    }
  }

  @Test
  void loadReportsSetTheEnginesLoadCapacityAndCountAndANewInstanceInOneIsARestart()
      throws Exception {
    try (EventStream s = new EventStream(channel).hello(E0, "i1", CHARS)) {
      s.batch(0, EventStream.stored(0, 1), EventStream.load("i1", 3, 2, 0.5, 1000, 1));
      s.ack(0, Disposition.APPLIED);
      assertEquals(3, e0().signals().running());
      assertEquals(2, e0().signals().waiting());
      assertEquals(0.5, e0().signals().kvCacheUsage());
      assertEquals(1, health.of(e0()).engineCachedBlocks());
      synchronized (statedTokens) {
        assertEquals(16_000L, statedTokens.get(e0()), "1000 blocks of 16 tokens");
      }
      s.batch(1, EventStream.load("i2", 0, 0, 0, 1000, 0));
      // the restart behind the stream: cleared, then kvgate asks what the new instance holds
      s.ack(1, Disposition.APPLIED);
      s.snapshotRequest(SnapshotRequest.Reason.RESYNC);
      assertArrayEquals(new long[0], held(chat, 0));
      assertEquals(
          1, counter("kvgate_index_resets_total", "engine", E0, "cause", "instance_restart"));
    }
  }

  @Test
  void anUnknownEndpointIsCountedAndDroppedAndAForeignHashSchemeIsRefused() throws Exception {
    try (EventStream s = new EventStream(channel).hello("http://nobody:1", "x", CHARS)) {
      s.batch(0, EventStream.stored(0, 1), EventStream.stored(1, 2));
      s.ack(0, Disposition.DROPPED_UNKNOWN_ENDPOINT);
      assertEquals(2, counter("kvgate_kv_events_dropped_total", "reason", "unknown_endpoint"));
    }
    EventStream bad =
        new EventStream(channel).hello(E0, "x", CHARS, HashScheme.HASH_SCHEME_UNSPECIFIED);
    assertEquals(Status.Code.FAILED_PRECONDITION, bad.ended().getCode());
    EventStream wrongSize = new EventStream(channel).hello(E0, "x", CHARS * 2);
    Status st = wrongSize.ended();
    assertEquals(Status.Code.FAILED_PRECONDITION, st.getCode());
    assertTrue(st.getDescription().contains("block_size_chars"), st.getDescription());
    assertEquals(IndexMode.APPROXIMATE, health.mode(e0()));
  }

  @Test
  void anEndlessStreamOfUnknownHashesIsBoundedByTheEndpointsCapacity() throws Exception {
    chat.index().setCapacityBlocks(0, 5_000);
    code.index().setCapacityBlocks(0, 5_000);
    try (EventStream s = new EventStream(channel).hello(E0, "i1", CHARS)) {
      long[] big = new long[100_000];
      for (int i = 0; i < big.length; i++) big[i] = 1_000_000L + i;
      s.batch(0, EventStream.stored(0, big));
      s.ack(0, Disposition.APPLIED);
      for (int b = 1; b <= 20; b++) {
        long[] more = new long[10_000];
        for (int i = 0; i < more.length; i++) more[i] = 10_000_000L * b + i;
        s.batch(b, EventStream.stored(0, more));
        s.ack(b, Disposition.APPLIED);
      }
      assertEquals(5_000, chat.index().heldBlocks(0));
      assertEquals(5_000, code.index().heldBlocks(0));
    }
  }
}
