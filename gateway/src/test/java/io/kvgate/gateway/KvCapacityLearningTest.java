package io.kvgate.gateway;

import static io.kvgate.gateway.TestSupport.*;
import static org.junit.jupiter.api.Assertions.*;

import io.kvgate.gateway.config.GatewayConfig;
import io.kvgate.routing.EndpointState;
import io.kvgate.sim.SimEngine;
import io.kvgate.sim.SimEngineConfig;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The real gateway in front of simulated engines, two of which hide {@code vllm:cache_config_info}:
 * under real load the prefix index learns each one's KV capacity from {@code
 * vllm:kv_cache_usage_perc}, while the engine that states its capacity keeps the stated figure.
 */
class KvCapacityLearningTest {

  static final String MODEL = "m";
  static final int SMALL = 1_500;
  static final int LARGE = 3_000;
  static final int STATED = 2_000;
  static final int DEFAULT_BLOCKS = 26_000;
  static Vertx vertx;
  static List<SimEngine> engines = new ArrayList<>();
  static Gateway gateway;

  @BeforeAll
  static void start() throws Exception {
    vertx = Vertx.vertx();
    // requests last ~0.7 s (16 decode steps of 40 ms after a ~0.1 s prefill) so scrapes see them in
    // flight
    SimEngineConfig base = SimEngineConfig.builder().model(MODEL).decodeMsPerToken(40).build();
    engines.add(
        await(
            SimEngine.start(
                vertx,
                base.toBuilder().capacityBlocks(SMALL).exportCacheConfigInfo(false).build())));
    engines.add(
        await(
            SimEngine.start(
                vertx,
                base.toBuilder().capacityBlocks(LARGE).exportCacheConfigInfo(false).build())));
    engines.add(await(SimEngine.start(vertx, base.toBuilder().capacityBlocks(STATED).build())));
    GatewayConfig.Routing d = GatewayConfig.Routing.DEFAULT;
    GatewayConfig config =
        config(MODEL, engines.stream().map(SimEngine::url).toList(), "cache-aware")
            .withRouting(
                new GatewayConfig.Routing(
                    d.blockSizeTokens(),
                    d.charsPerToken(),
                    DEFAULT_BLOCKS,
                    d.indexTtl(),
                    Duration.ofMillis(100),
                    d.segmentCacheBytes()));
    gateway = await(Gateway.start(vertx, config));
  }

  @AfterAll
  static void stop() throws Exception {
    await(gateway.close());
    for (SimEngine e : engines) await(e.close());
    await(vertx.close());
  }

  /** A prompt of ~1,500 tokens whose first block is unique, so no two requests share KV blocks. */
  private static String body(long id) {
    String content =
        "request "
            + id
            + " of the capacity test. "
            + "Unrelated filler, nothing shared. ".repeat(175);
    return new JsonObject()
        .put("model", MODEL)
        .put("max_tokens", 16)
        .put(
            "messages",
            new JsonArray().add(new JsonObject().put("role", "user").put("content", content)))
        .encode();
  }

  private static EndpointState endpoint(SimEngine e) {
    String id = "127.0.0.1:" + e.port();
    return gateway.route(MODEL).endpoints().stream()
        .filter(s -> s.id().equals(id))
        .findFirst()
        .orElseThrow();
  }

  private static long capacity(SimEngine e) {
    return gateway.route(MODEL).index().capacityBlocks(endpoint(e).slot());
  }

  private static boolean within(long actual, long expected, double tolerance) {
    return Math.abs(actual - expected) <= tolerance * expected;
  }

  @Test
  void indexCapacityConvergesToEachEnginesTrueCapacity() throws Exception {
    SimEngine small = engines.get(0);
    SimEngine large = engines.get(1);
    SimEngine stated = engines.get(2);
    assertEquals(DEFAULT_BLOCKS, capacity(small), "the configured default until learned");

    AtomicBoolean running = new AtomicBoolean(true);
    AtomicLong ids = new AtomicLong();
    AtomicLong done = new AtomicLong();
    AtomicLong failures = new AtomicLong();
    int clients = 12;
    ExecutorService pool = Executors.newFixedThreadPool(clients);
    List<Future<?>> loops = new ArrayList<>();
    long t0 = System.nanoTime();
    long smallAt = -1;
    long largeAt = -1;
    long smallRequests = 0;
    long largeRequests = 0;
    try {
      for (int c = 0; c < clients; c++) {
        loops.add(
            pool.submit(
                () -> {
                  while (running.get()) {
                    try {
                      HttpResponse<String> r =
                          post(gateway.port(), "/v1/chat/completions", body(ids.incrementAndGet()));
                      if (r.statusCode() == 200) done.incrementAndGet();
                      else failures.incrementAndGet();
                    } catch (Exception ex) {
                      failures.incrementAndGet();
                    }
                  }
                  return null;
                }));
      }
      // poll (not synchronise) with a deadline
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
      while (System.nanoTime() < deadline && (smallAt < 0 || largeAt < 0)) {
        if (smallAt < 0 && within(capacity(small), SMALL, 0.15)) {
          smallAt = System.nanoTime() - t0;
          smallRequests = done.get();
        }
        if (largeAt < 0 && within(capacity(large), LARGE, 0.15)) {
          largeAt = System.nanoTime() - t0;
          largeRequests = done.get();
        }
        Thread.sleep(20);
      }
      // keep the load on for a few more scrapes: the learned figures must hold still (hysteresis)
      long learnedSmall = capacity(small);
      long learnedLarge = capacity(large);
      long until = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(1_500);
      int changes = 0;
      while (System.nanoTime() < until) {
        if (capacity(small) != learnedSmall || capacity(large) != learnedLarge) {
          changes++;
          learnedSmall = capacity(small);
          learnedLarge = capacity(large);
        }
        Thread.sleep(20);
      }
      System.out.printf(
          "KV capacity learned: small %d blocks (true %d, %.1f%%) after %d ms / %d requests;"
              + " large %d blocks (true %d, %.1f%%) after %d ms / %d requests; stated %d; %d changes after; %d requests, %d failures%n",
          capacity(small),
          SMALL,
          100.0 * (capacity(small) - SMALL) / SMALL,
          smallAt / 1_000_000,
          smallRequests,
          capacity(large),
          LARGE,
          100.0 * (capacity(large) - LARGE) / LARGE,
          largeAt / 1_000_000,
          largeRequests,
          capacity(stated),
          changes,
          done.get(),
          failures.get());
      assertTrue(
          smallAt >= 0, "small engine: index capacity " + capacity(small) + ", true " + SMALL);
      assertTrue(
          largeAt >= 0, "large engine: index capacity " + capacity(large) + ", true " + LARGE);
      assertTrue(within(capacity(small), SMALL, 0.15), "small: " + capacity(small));
      assertTrue(within(capacity(large), LARGE, 0.15), "large: " + capacity(large));
      assertEquals(0, changes, "the learned capacities stay put under steady load");
      assertEquals(
          STATED, capacity(stated), "a stated capacity is applied as is and never replaced");
      assertEquals(0, failures.get());
    } finally {
      running.set(false);
      for (Future<?> f : loops) f.get(30, TimeUnit.SECONDS);
      pool.shutdown();
    }

    String metrics = get(gateway.adminPort(), "/metrics").body();
    assertHasSeries(
        metrics,
        "kvgate_endpoint_kv_capacity_blocks",
        endpoint(small).id(),
        "learned",
        capacity(small));
    assertHasSeries(
        metrics,
        "kvgate_endpoint_kv_capacity_blocks",
        endpoint(large).id(),
        "learned",
        capacity(large));
    assertHasSeries(
        metrics, "kvgate_endpoint_kv_capacity_blocks", endpoint(stated).id(), "engine", STATED);
    assertFalse(
        metrics.contains("source=\"default\""), "no endpoint is left on the default:\n" + metrics);
  }

  private static void assertHasSeries(
      String metrics, String name, String endpoint, String source, long value) {
    for (String line : metrics.split("\n")) {
      if (line.startsWith(name + "{")
          && line.contains("endpoint=\"" + endpoint + "\"")
          && line.contains("source=\"" + source + "\"")) {
        assertEquals(
            value, Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1)), 0.5, line);
        return;
      }
    }
    fail("no " + name + " series for " + endpoint + " with source " + source + " in:\n" + metrics);
  }
}
