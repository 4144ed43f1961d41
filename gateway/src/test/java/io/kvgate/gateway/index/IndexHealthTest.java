package io.kvgate.gateway.index;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.kvgate.gateway.config.GatewayConfig;
import io.kvgate.gateway.fleet.ModelRoute;
import io.kvgate.gateway.health.EngineMetricsText;
import io.kvgate.routing.EndpointState;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Restart and reset detection without an event stream, and the index modes it leads to. */
class IndexHealthTest {

  static final String E0 = "http://10.0.0.1:8000";
  PrometheusMeterRegistry registry;
  ModelRoute route;
  IndexHealth health;
  EndpointState e0;

  @BeforeEach
  void setUp() throws Exception {
    registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    route =
        new ModelRoute(
            GatewayConfig.of("m", List.of(E0, "http://10.0.0.2:8000"), "cache-aware")
                .models()
                .get(0),
            GatewayConfig.Routing.DEFAULT);
    health = new IndexHealth(List.of(route), new IndexMetrics(registry), null, 16);
    e0 = route.endpoints().get(0);
    route.index().blocksStored(0, new long[] {1, 2, 3, 4, 5}, 0, 5, System.nanoTime());
    route.index().blocksStored(1, new long[] {1, 2}, 0, 2, System.nanoTime());
  }

  static String metrics(double start, long prompts, String cacheConfig) {
    return "# TYPE process_start_time_seconds gauge\n"
        + "process_start_time_seconds "
        + start
        + "\n"
        + "vllm:num_requests_running{model_name=\"m\"} 1\n"
        + "vllm:prompt_tokens_total{model_name=\"m\"} "
        + prompts
        + "\n"
        + "vllm:cache_config_info{"
        + cacheConfig
        + "} 1\n";
  }

  double resets(String cause) {
    var c = registry.find("kvgate_index_resets").tags("cause", cause).counter();
    return c == null ? 0 : c.count();
  }

  void scrape(String text) {
    health.observeScrape(e0, EngineMetricsText.parse(text));
  }

  @Test
  void aMovedProcessStartTimeClearsTheEngineOnceAndRoutingRebuildsIt() {
    String cfg = "block_size=\"16\",num_gpu_blocks=\"1000\"";
    scrape(metrics(1000.0, 500, cfg));
    scrape(metrics(1000.0, 900, cfg));
    assertEquals(5, route.index().heldBlocks(0), "a steady engine keeps its entries");
    scrape(metrics(2000.0, 950, cfg));
    assertEquals(0, route.index().heldBlocks(0));
    assertEquals(2, route.index().heldBlocks(1), "other engines keep theirs");
    assertEquals(1, resets("process_restart"));
    assertEquals(IndexMode.STALE, health.mode(e0));
    scrape(metrics(2000.0, 1000, cfg));
    assertEquals(1, resets("process_restart"), "counted once");
    route.index().recordRouted(0, io.kvgate.routing.prefix.BlockChain.EMPTY, System.nanoTime());
    health.onDispatched(e0);
    assertEquals(IndexMode.APPROXIMATE, health.mode(e0), "rebuilt by kvgate's own routing");
  }

  @Test
  void aCounterGoingBackwardsOrANewCacheConfigIsAReset() {
    String cfg = "block_size=\"16\",num_gpu_blocks=\"1000\"";
    scrape(metrics(Double.NaN, 500, cfg));
    scrape(metrics(Double.NaN, 20, cfg));
    assertEquals(1, resets("counters_reset"));
    route.index().blocksStored(0, new long[] {1}, 0, 1, System.nanoTime());
    scrape(metrics(Double.NaN, 30, "block_size=\"16\",num_gpu_blocks=\"2000\""));
    assertEquals(1, resets("cache_config_changed"));
    assertEquals(0, route.index().heldBlocks(0));
  }

  @Test
  void consecutivePhantomHitsAreAResetAndOneGoodRequestBreaksTheStreak() {
    long predicted = 10L * 16;
    health.observeCachedTokens(e0, predicted, 0);
    health.observeCachedTokens(e0, predicted, predicted);
    health.observeCachedTokens(e0, predicted, 0);
    assertEquals(5, route.index().heldBlocks(0), "no two phantoms in a row yet");
    health.observeCachedTokens(e0, 2L * 16, 0); // too small a prediction to count either way
    health.observeCachedTokens(e0, predicted, 16);
    assertEquals(0, route.index().heldBlocks(0));
    assertEquals(1, resets("phantom_hits"));
  }

  @Test
  void aRestartTheStreamAlreadyReportedIsNotClearedAgainByTheScrape() {
    String cfg = "block_size=\"16\",num_gpu_blocks=\"1000\"";
    scrape(metrics(1000.0, 500, cfg));
    IndexHealth.Engine engine = health.of(e0);
    Runnable resync = () -> {};
    engine.streamHello("first", resync);
    engine.streamLost(resync);
    engine.streamHello("second", resync); // restart seen by the stream: cleared once
    route.index().blocksStored(0, new long[] {9}, 0, 1, System.nanoTime());
    engine.streamApplied();
    scrape(metrics(2000.0, 10, cfg));
    assertEquals(1, route.index().heldBlocks(0), "the stream's rebuilt entries stay");
    assertEquals(1, resets("instance_restart"));
    assertEquals(0, resets("process_restart"));
    assertEquals(IndexMode.PRECISE, health.mode(e0));
  }

  @Test
  void aRestartTheScrapeFoundWhileTheStreamWasDownIsCountedOnceWhenTheNewInstanceSaysHello() {
    String cfg = "block_size=\"16\",num_gpu_blocks=\"1000\"";
    IndexHealth.Engine engine = health.of(e0);
    Runnable resync = () -> {};
    engine.streamHello("first", resync);
    scrape(metrics(1000.0, 500, cfg));
    engine.streamLost(resync);
    scrape(metrics(2000.0, 10, cfg)); // the scrape sees the restart first
    assertEquals(1, resets("process_restart"));
    engine.streamHello("second", resync);
    assertEquals(0, resets("instance_restart"), "the same restart, counted once");
    assertEquals(1, engine.resets());
  }

  @Test
  void phantomHitsOnALiveStreamAskForASnapshotAndClearNothing() {
    IndexHealth.Engine engine = health.of(e0);
    int[] asked = {0};
    Runnable resync = () -> asked[0]++;
    engine.streamHello("i", resync);
    route.index().blocksStored(0, new long[] {1, 2, 3, 4, 5}, 0, 5, System.nanoTime());
    long predicted = 10L * 16;
    health.observeCachedTokens(e0, predicted, 0);
    health.observeCachedTokens(e0, predicted, 0);
    assertEquals(1, asked[0]);
    assertEquals(5, route.index().heldBlocks(0), "the snapshot replaces them, nothing cleared");
    engine.awaitingSnapshot();
    health.observeCachedTokens(e0, predicted, 0);
    health.observeCachedTokens(e0, predicted, 0);
    assertEquals(1, asked[0], "a snapshot is already on its way");
    assertEquals(5, route.index().heldBlocks(0));
    assertEquals(0, resets("phantom_hits"));
  }
}
