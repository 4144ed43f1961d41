package io.kvgate.gateway.pd;

import static io.kvgate.gateway.TestSupport.*;
import static org.junit.jupiter.api.Assertions.*;

import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.core.http.StreamResponse;
import com.openai.models.chat.completions.ChatCompletionChunk;
import com.openai.models.chat.completions.ChatCompletionCreateParams;
import io.kvgate.gateway.config.GatewayConfig;
import io.kvgate.gateway.demo.Demo;
import io.kvgate.gateway.fleet.ModelRoute;
import io.kvgate.routing.policy.PolicyException;
import io.kvgate.sim.SimEngineConfig;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.vertx.core.Vertx;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The disaggregated demo through the official OpenAI SDK, its metrics on the admin listener, and
 * how a P/D model picks its decode-side policy.
 */
class PdDemoAndPolicyTest {

  @Test
  void theDisaggregatedDemoServesTheOpenAiSdk() throws Exception {
    Vertx vertx = Vertx.vertx();
    PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    Demo demo =
        await(
            Demo.startPd(
                vertx,
                registry,
                SimEngineConfig.builder().model("demo-model").speed(20).build(),
                1,
                1,
                GatewayConfig.PdProtocol.VLLM,
                0,
                "127.0.0.1",
                0,
                "cache-aware"));
    try {
      OpenAIClient client =
          OpenAIOkHttpClient.builder().baseUrl(demo.url() + "/v1").apiKey("unused").build();
      StringBuilder text = new StringBuilder();
      try (StreamResponse<ChatCompletionChunk> s =
          client
              .chat()
              .completions()
              .createStreaming(
                  ChatCompletionCreateParams.builder()
                      .model("demo-model")
                      .addSystemMessage("You are a careful assistant. ".repeat(120))
                      .addUserMessage("Hello!")
                      .maxCompletionTokens(12)
                      .build())) {
        s.stream()
            .forEach(c -> c.choices().forEach(x -> x.delta().content().ifPresent(text::append)));
      }
      assertFalse(text.toString().isBlank());
      HttpResponse<String> metrics = get(demo.gateway().adminPort(), "/metrics");
      assertTrue(
          metrics.body().contains("kvgate_pd_requests_total{mode=\"disaggregated\""),
          metrics.body());
      assertTrue(
          metrics
              .body()
              .contains("kvgate_pool_in_flight_requests{model=\"demo-model\",role=\"prefill\""));
      assertTrue(metrics.body().contains("kvgate_pd_prefill_seconds_count"));
      assertTrue(metrics.body().contains("kvgate_pd_decode_first_byte_seconds_count"));
      assertEquals(
          1, demo.fleet().engines().get(1).stats().requests(), "the decode engine decoded");
      assertTrue(demo.fleet().engines().get(1).stats().transferredTokens() > 0);
    } finally {
      await(demo.close());
      await(vertx.close());
    }
  }

  static final String WITH_DECODE_PROFILE =
      """
      name: mine
      plugins:
        - {type: healthy-filter}
        - {type: cache-aware-picker}
        - {type: in-flight-scorer}
        - {type: max-score-picker}
      profiles:
        - name: default
          plugins: [{ref: healthy-filter}, {ref: cache-aware-picker}]
        - name: decode
          plugins: [{ref: healthy-filter}, {ref: in-flight-scorer}, {ref: max-score-picker}]
      """;

  static GatewayConfig.Model model(String policy, boolean pd) {
    GatewayConfig c =
        GatewayConfig.disaggregated(
            "m",
            GatewayConfig.PdProtocol.VLLM,
            List.of("http://p:8000"),
            List.of("http://d:8000"),
            List.of(),
            policy);
    GatewayConfig.Model m = c.models().get(0);
    if (pd) return m;
    return GatewayConfig.of("m", List.of("http://b:8000"), policy).models().get(0);
  }

  @Test
  void aDecodeProfileActsOnADisaggregatedModelAndIsRefusedElsewhere(@TempDir Path dir)
      throws Exception {
    Path file = dir.resolve("mine.yaml");
    Files.writeString(file, WITH_DECODE_PROFILE);
    ModelRoute pd = new ModelRoute(model(file.toString(), true), GatewayConfig.Routing.DEFAULT);
    assertEquals("mine", pd.router().name());
    assertEquals("mine/decode", pd.pd().decodeRouter().name());
    ModelRoute preset = new ModelRoute(model("cache-aware", true), GatewayConfig.Routing.DEFAULT);
    assertEquals("decode-load", preset.pd().decodeRouter().name());
    PolicyException e =
        assertThrows(
            PolicyException.class,
            () -> new ModelRoute(model(file.toString(), false), GatewayConfig.Routing.DEFAULT));
    assertTrue(
        e.getMessage().contains("profile 'decode' ranks a disaggregated model's decode side"),
        e.getMessage());
    assertNull(
        new ModelRoute(model("cache-aware", false), GatewayConfig.Routing.DEFAULT).pd(),
        "an aggregated model has no leg router");
  }

  @Test
  void theShippedExampleLoads() throws Exception {
    String yaml =
        Files.readString(Path.of("../config/examples/disaggregated/gateway.yaml"))
            .replace("config/examples/", "../config/examples/");
    GatewayConfig c =
        io.kvgate.gateway.config.GatewayConfigLoader.parse(yaml, "disaggregated/gateway.yaml");
    ModelRoute r = new ModelRoute(c.models().get(0), c.routing());
    assertEquals("disaggregated", r.router().name());
    assertEquals("disaggregated/decode", r.pd().decodeRouter().name());
    assertEquals(256, r.pd().minUncachedTokens());
  }
}
