package io.kvgate.sim;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.kvgate.proto.v1.EventBatch;
import io.kvgate.proto.v1.HashScheme;
import io.kvgate.proto.v1.Hello;
import io.kvgate.proto.v1.KvEvent;
import io.kvgate.proto.v1.SnapshotChunk;
import io.kvgate.routing.prefix.BlockHasher;
import io.kvgate.routing.prefix.ChatPromptRenderer;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpClient;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.PoolOptions;
import io.vertx.core.http.RequestOptions;
import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The KV event publisher against a fake kvgate on a real gRPC port, engines on real HTTP. */
class KvEventPublisherTest {

  private static final ObjectMapper JSON = new ObjectMapper();
  private static final SimEngineConfig FAST =
      SimEngineConfig.builder().speed(1000).capacityBlocks(2048).build();
  private static final KvEventPublisher.Options QUICK =
      KvEventPublisher.Options.DEFAULTS
          .withBatchInterval(Duration.ofMillis(5))
          .withLoadInterval(Duration.ofMillis(20))
          .withBackoff(Duration.ofMillis(20), Duration.ofMillis(200));

  private Vertx vertx;
  private HttpClient client;
  private FakeKvgate kvgate;
  private int grpcPort;

  @BeforeEach
  void setUp() throws Exception {
    vertx = Vertx.vertx();
    client = vertx.createHttpClient(new HttpClientOptions(), new PoolOptions().setHttp1MaxSize(16));
    kvgate = new FakeKvgate();
    grpcPort = kvgate.start(0);
  }

  @AfterEach
  void tearDown() throws Exception {
    client.close().await();
    vertx.close().await();
    kvgate.stop();
  }

  private static <T> T await(Future<T> f) {
    try {
      return f.await(20, TimeUnit.SECONDS);
    } catch (java.util.concurrent.TimeoutException e) {
      throw new AssertionError("timed out", e);
    }
  }

  private void eventually(String what, BooleanSupplier condition) {
    Promise<Void> p = Promise.promise();
    long id =
        vertx.setPeriodic(
            5,
            t -> {
              if (condition.getAsBoolean()) p.tryComplete();
            });
    try {
      p.future().await(20, TimeUnit.SECONDS);
    } catch (java.util.concurrent.TimeoutException e) {
      throw new AssertionError("timed out waiting for " + what, e);
    } finally {
      vertx.cancelTimer(id);
    }
  }

  /** Polls {@code /metrics} until {@code name}'s value satisfies {@code ok}. */
  private void eventuallyMetric(SimEngine e, String name, java.util.function.DoublePredicate ok) {
    Promise<Void> p = Promise.promise();
    boolean[] inFlight = {false};
    long id =
        vertx.setPeriodic(
            5,
            t -> {
              if (inFlight[0]) return;
              inFlight[0] = true;
              send(e, HttpMethod.GET, "/metrics", null)
                  .onComplete(
                      ar -> {
                        inFlight[0] = false;
                        if (ar.succeeded() && ok.test(metric(ar.result().body(), name)))
                          p.tryComplete();
                      });
            });
    try {
      p.future().await(20, TimeUnit.SECONDS);
    } catch (java.util.concurrent.TimeoutException ex) {
      throw new AssertionError("timed out waiting for " + name, ex);
    } finally {
      vertx.cancelTimer(id);
    }
  }

  private record Reply(int status, String body) {}

  private Future<Reply> send(SimEngine e, HttpMethod method, String path, String body) {
    return client
        .request(
            new RequestOptions()
                .setMethod(method)
                .setHost("127.0.0.1")
                .setPort(e.port())
                .setURI(path))
        .compose(
            req ->
                body == null
                    ? req.send()
                    : req.putHeader("content-type", "application/json").send(body))
        .compose(resp -> resp.body().map(b -> new Reply(resp.statusCode(), b.toString())));
  }

  private static String chat(String content, int maxTokens) {
    ObjectNode o =
        JSON.createObjectNode()
            .put("model", SimEngineConfig.DEFAULT_MODEL)
            .put("max_tokens", maxTokens);
    o.putArray("messages").addObject().put("role", "user").put("content", content);
    return o.toString();
  }

  /** kvgate's chain for a one-message chat request, as its RoutingKeyer computes it. */
  private static long[] kvgateChain(String content, int blockSizeTokens) {
    BlockHasher.Builder b =
        new BlockHasher(4 * blockSizeTokens)
            .start(BlockHasher.seed(SimEngineConfig.DEFAULT_MODEL, null, null));
    ChatPromptRenderer.renderMessage(b, "user", content);
    ChatPromptRenderer.renderGenerationPrompt(b);
    return b.finish().toArray();
  }

  private static Set<Long> set(long[] hashes) {
    Set<Long> s = new HashSet<>();
    for (long h : hashes) s.add(h);
    return s;
  }

  private String metrics(SimEngine e) {
    return await(send(e, HttpMethod.GET, "/metrics", null)).body();
  }

  private static double metric(String text, String name) {
    for (String line : text.split("\n")) {
      if (line.startsWith(name + "{") || line.startsWith(name + " ")) {
        return Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
      }
    }
    throw new AssertionError("no " + name + " in\n" + text);
  }

  @Test
  void streamsHelloAndTheBlocksKvgateComputesAndTheIndexMatchesTheEngine() {
    SimEngine e = await(SimEngine.start(vertx, FAST));
    KvEventPublisher p = e.publishKvEvents("127.0.0.1:" + grpcPort, null, QUICK);
    await(p.firstAck());
    Hello hello = kvgate.lastHello();
    assertEquals(e.url(), hello.getEndpoint());
    assertEquals(e.instanceId(), hello.getInstanceId());
    assertEquals(HashScheme.HASH_SCHEME_KVGATE_TEXT_XXH64, hello.getHashScheme());
    assertEquals(64, hello.getBlockSizeChars());
    assertEquals(16, hello.getBlockSizeTokens());
    assertEquals(SimEngineConfig.DEFAULT_MODEL, hello.getModel());
    assertEquals("kvgate-sim", hello.getEngine());

    String content = "Explain the prefix cache in detail, please. ".repeat(30);
    assertEquals(
        200, await(send(e, HttpMethod.POST, "/v1/chat/completions", chat(content, 4))).status());
    long[] expected = kvgateChain(content, 16);
    eventually("kvgate's chain in the index", () -> kvgate.indexCopy().containsAll(set(expected)));

    // chain order with parents: the first stored run starts the prompt
    KvEvent firstStored =
        kvgate.batchesCopy().stream()
            .flatMap(b -> b.getEventsList().stream())
            .filter(KvEvent::hasBlockStored)
            .findFirst()
            .orElseThrow();
    assertFalse(firstStored.getBlockStored().hasParentBlockHash());
    assertEquals(expected[0], firstStored.getBlockStored().getBlockHashes(0));

    Set<Long> engine = set(await(e.prefixCacheHashes()));
    eventually("the index equals the engine's cache", () -> kvgate.indexCopy().equals(engine));
    String m = metrics(e);
    assertEquals(engine.size(), metric(m, "kvgate_sim_prefix_cache_blocks"));
    assertEquals(1, metric(m, "kvgate_sim_kv_events_stream_connected"));
    assertTrue(metric(m, "kvgate_sim_kv_events_published_total") > 0);
    // seq is consecutive from 0
    List<EventBatch> batches = kvgate.batchesCopy();
    for (int i = 0; i < batches.size(); i++) assertEquals(i, batches.get(i).getSeq());
    assertTrue(
        batches.stream()
            .flatMap(b -> b.getEventsList().stream())
            .anyMatch(ev -> ev.hasLoadReport() && ev.getLoadReport().getCapacityBlocks() == 2048));
    await(p.close());
  }

  @Test
  void evictionsAreReportedSoTheIndexTracksTheEngine() {
    SimEngine e = await(SimEngine.start(vertx, FAST.withCapacityBlocks(64)));
    KvEventPublisher p = e.publishKvEvents("127.0.0.1:" + grpcPort, "engine-a", QUICK);
    await(p.firstAck());
    assertEquals("engine-a", kvgate.lastHello().getEndpoint());
    for (int i = 0; i < 8; i++) {
      String content = ("prompt " + i + " fills twenty blocks. ").repeat(50).substring(0, 1200);
      assertEquals(
          200, await(send(e, HttpMethod.POST, "/v1/chat/completions", chat(content, 4))).status());
    }
    Set<Long> engine = set(await(e.prefixCacheHashes()));
    eventually(
        "evictions reported",
        () ->
            kvgate.batchesCopy().stream()
                .flatMap(b -> b.getEventsList().stream())
                .anyMatch(KvEvent::hasBlockRemoved));
    eventually("the index equals the engine's cache", () -> kvgate.indexCopy().equals(engine));
    assertTrue(engine.size() <= 64);
    await(p.close());
  }

  @Test
  void answersSnapshotRequestsAfterTheBatchItIsAsOf() {
    SimEngine e = await(SimEngine.start(vertx, FAST));
    KvEventPublisher p = e.publishKvEvents("127.0.0.1:" + grpcPort, null, QUICK);
    await(p.firstAck());
    kvgate.requestSnapshot(1);
    eventually("an empty snapshot", () -> kvgate.chunksCopy().size() == 1);
    SnapshotChunk empty = kvgate.chunksCopy().get(0);
    assertTrue(empty.getFirst() && empty.getLast());
    assertEquals(0, empty.getBlockHashesCount());
    assertEquals(1, empty.getRequestId());
    assertEquals(e.instanceId(), empty.getInstanceId());

    String content = "A snapshot lists every resident block. ".repeat(40);
    await(send(e, HttpMethod.POST, "/v1/chat/completions", chat(content, 4)));
    kvgate.requestSnapshot(2);
    eventually("a second snapshot", () -> kvgate.chunksCopy().size() == 2);
    SnapshotChunk full = kvgate.chunksCopy().get(1);
    assertEquals(2, full.getRequestId());
    assertEquals(
        kvgate.seqAtFirstChunk, full.getAsOfSeq(), "the snapshot follows the batch it is as of");
    assertEquals(set(await(e.prefixCacheHashes())), new HashSet<>(full.getBlockHashesList()));
    assertTrue(full.getBlockHashesList().containsAll(set(kvgateChain(content, 16))));
    await(p.close());
  }

  @Test
  void reconnectsWithBackoffAndResendsWhatWasNotAcknowledged() throws Exception {
    SimEngine e = await(SimEngine.start(vertx, FAST));
    kvgate.stop();
    KvEventPublisher p = e.publishKvEvents("127.0.0.1:" + grpcPort, null, QUICK);
    // kvgate is not up yet: batches wait, the publisher retries
    String content = "Published while kvgate is away. ".repeat(40);
    await(send(e, HttpMethod.POST, "/v1/chat/completions", chat(content, 4)));
    assertFalse(p.firstAck().isComplete());
    kvgate = new FakeKvgate();
    kvgate.start(grpcPort);
    await(p.firstAck());
    eventually(
        "the blocks stored while away",
        () -> kvgate.indexCopy().containsAll(set(kvgateChain(content, 16))));
    String instance = e.instanceId();
    // kvgate restarts: the same instance reconnects and continues its seq
    kvgate.stop();
    long before = kvgate.batchesCopy().stream().mapToLong(EventBatch::getSeq).max().orElseThrow();
    kvgate = new FakeKvgate();
    kvgate.start(grpcPort);
    eventually("a new stream", () -> kvgate.helloCount() == 1 && !kvgate.batchesCopy().isEmpty());
    assertEquals(instance, kvgate.lastHello().getInstanceId());
    assertTrue(kvgate.batchesCopy().get(0).getSeq() > 0, "seq continues");
    assertTrue(
        kvgate.batchesCopy().stream().mapToLong(EventBatch::getSeq).max().orElseThrow() >= before);
    eventuallyMetric(e, "kvgate_sim_kv_events_reconnects_total", v -> v >= 1);
    await(p.close());
  }

  @Test
  void aFullOutboxDropsTheOldestBatchesAndCountsThem() throws Exception {
    SimEngine e = await(SimEngine.start(vertx, FAST));
    kvgate.stop();
    KvEventPublisher p =
        e.publishKvEvents(
            "127.0.0.1:" + grpcPort,
            null,
            QUICK.withLoadInterval(Duration.ofMillis(1)).withMaxUnackedBatches(4));
    eventuallyMetric(e, "kvgate_sim_kv_event_batches_dropped_total", v -> v >= 10);
    kvgate = new FakeKvgate();
    kvgate.start(grpcPort);
    await(p.firstAck());
    List<EventBatch> got = kvgate.batchesCopy();
    assertTrue(got.get(0).getSeq() >= 10, "the oldest batches were dropped");
    for (int i = 1; i < Math.min(4, got.size()); i++)
      assertEquals(got.get(i - 1).getSeq() + 1, got.get(i).getSeq());
    await(p.close());
  }

  @Test
  void restartStartsANewProcessWithAFreshStream() {
    SimEngine e = await(SimEngine.start(vertx, FAST));
    KvEventPublisher p = e.publishKvEvents("127.0.0.1:" + grpcPort, null, QUICK);
    await(p.firstAck());
    String content = "Cached before the restart. ".repeat(40);
    await(send(e, HttpMethod.POST, "/v1/chat/completions", chat(content, 4)));
    eventually("cached blocks indexed", () -> !kvgate.indexCopy().isEmpty());
    String before = metrics(e);
    String oldInstance = e.instanceId();

    Reply r = await(send(e, HttpMethod.POST, "/kvgate_sim/restart", null));
    assertEquals(200, r.status());
    assertNotEquals(oldInstance, e.instanceId());
    assertTrue(r.body().contains(e.instanceId()));
    eventually(
        "a Hello of the new instance",
        () -> kvgate.lastHello().getInstanceId().equals(e.instanceId()));
    eventually(
        "the fresh process's first batch",
        () ->
            kvgate.batchesCopy().stream()
                .anyMatch(
                    b ->
                        b.getSeq() == 0
                            && b.getEvents(0)
                                .getLoadReport()
                                .getInstanceId()
                                .equals(e.instanceId())));
    assertEquals(0, await(e.prefixCacheHashes()).length);

    String after = metrics(e);
    assertTrue(
        metric(after, "process_start_time_seconds") > metric(before, "process_start_time_seconds"));
    assertTrue(metric(before, "vllm:prompt_tokens_total") > 0);
    assertEquals(0, metric(after, "vllm:prompt_tokens_total"), "counters restart at 0");
    assertTrue(after.contains("vllm:cache_config_info{"), "cache config stays");
    assertEquals(0, e.stats().requests());

    // the new process caches from scratch: no hit for the prompt cached before
    ObjectNode usage;
    try {
      usage =
          (ObjectNode)
              JSON.readTree(
                      await(send(e, HttpMethod.POST, "/v1/chat/completions", chat(content, 4)))
                          .body())
                  .get("usage");
    } catch (Exception ex) {
      throw new AssertionError(ex);
    }
    assertEquals(0, usage.path("prompt_tokens_details").path("cached_tokens").asInt());
    await(p.close());
  }

  @Test
  void restartAbortsRunningRequests() {
    // speed 1: 200 tokens at 8 ms take 1.6 s
    SimEngine e =
        await(SimEngine.start(vertx, SimEngineConfig.builder().capacityBlocks(2048).build()));
    Future<Reply> running = send(e, HttpMethod.POST, "/v1/chat/completions", chat("hold on", 200));
    eventually("the request runs", () -> e.stats().running() == 1);
    await(e.restart());
    assertTrue(
        assertThrows(Throwable.class, () -> running.await(20, TimeUnit.SECONDS)) != null,
        "the connection of a request in flight is dropped");
    assertEquals(0, e.stats().running());
    assertEquals(200, await(send(e, HttpMethod.GET, "/health", null)).status(), "the port stays");
  }

  @Test
  void resetPrefixCacheFollowsVllmAndPublishesAllBlocksCleared() {
    SimEngine e =
        await(
            SimEngine.start(
                vertx, SimEngineConfig.builder().capacityBlocks(2048).speed(20).build()));
    KvEventPublisher p = e.publishKvEvents("127.0.0.1:" + grpcPort, null, QUICK);
    await(p.firstAck());
    await(send(e, HttpMethod.POST, "/v1/chat/completions", chat("Cached text. ".repeat(40), 2)));
    eventually("cached blocks indexed", () -> !kvgate.indexCopy().isEmpty());

    // a running request holds blocks: vLLM refuses with 409 unless reset_running_requests
    Future<Reply> running =
        send(e, HttpMethod.POST, "/v1/chat/completions", chat("still running", 400));
    eventually("the request runs", () -> e.stats().running() == 1);
    Reply refused = await(send(e, HttpMethod.POST, "/reset_prefix_cache", null));
    assertEquals(409, refused.status());
    assertTrue(refused.body().contains("Prefix cache reset failed."));
    assertEquals(
        422,
        await(send(e, HttpMethod.POST, "/reset_prefix_cache?reset_running_requests=maybe", null))
            .status());
    assertEquals(
        200,
        await(send(e, HttpMethod.POST, "/reset_prefix_cache?reset_running_requests=true", null))
            .status());
    assertEquals(0, await(e.prefixCacheHashes()).length);
    eventually(
        "AllBlocksCleared published",
        () ->
            kvgate.batchesCopy().stream()
                .flatMap(b -> b.getEventsList().stream())
                .anyMatch(KvEvent::hasAllBlocksCleared));
    eventually("the index is empty", () -> kvgate.indexCopy().isEmpty());
    assertEquals(200, await(running).status(), "the running request finishes");
    assertTrue(await(e.resetPrefixCache(false)), "idle: the programmatic reset succeeds");
    await(p.close());
  }

  @Test
  void refusesABadTargetAndASecondPublisher() {
    SimEngine e = await(SimEngine.start(vertx, FAST));
    assertThrows(IllegalArgumentException.class, () -> e.publishKvEvents("nohost", null));
    assertThrows(IllegalArgumentException.class, () -> e.publishKvEvents("h:0", null));
    KvEventPublisher p = e.publishKvEvents("[::1]:" + grpcPort, null);
    assertEquals("::1", p.target().host());
    assertThrows(IllegalStateException.class, () -> e.publishKvEvents("127.0.0.1:1", null));
    await(p.close());
  }
}
