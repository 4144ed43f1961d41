package io.kvgate.gateway.demo;

import static io.kvgate.gateway.TestSupport.await;
import static org.junit.jupiter.api.Assertions.*;

import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.core.http.StreamResponse;
import com.openai.models.chat.completions.ChatCompletionChunk;
import com.openai.models.chat.completions.ChatCompletionCreateParams;
import com.openai.models.chat.completions.ChatCompletionStreamOptions;
import io.kvgate.gateway.metrics.GatewayMetrics;
import io.kvgate.sim.SimEngineConfig;
import io.vertx.core.Vertx;

/**
 * The demo, in-process, at real (speed 1) H100 timings: the same long system prompt twice through
 * the OpenAI Java SDK. The second request's prefix is cached on the engine the router chose again,
 * so its time to first token is lower and the engine reports cached tokens.
 */
class DemoEndToEndTest {

  /** TTFT of one streamed request in nanoseconds, and the cached tokens its usage reported. */
  private static long[] stream(OpenAIClient client, String model, String system, String question) {
    long start = System.nanoTime();
    long[] result = {-1, -1};
    try (StreamResponse<ChatCompletionChunk> s =
        client
            .chat()
            .completions()
            .createStreaming(
                ChatCompletionCreateParams.builder()
                    .model(model)
                    .addSystemMessage(system)
                    .addUserMessage(question)
                    .maxCompletionTokens(4)
                    .streamOptions(ChatCompletionStreamOptions.builder().includeUsage(true).build())
                    .build())) {
      s.stream()
          .forEach(
              chunk -> {
                if (result[0] < 0
                    && chunk.choices().stream()
                        .anyMatch(c -> c.delta().content().filter(t -> !t.isEmpty()).isPresent())) {
                  result[0] = System.nanoTime() - start;
                }
                chunk
                    .usage()
                    .ifPresent(
                        u ->
                            result[1] =
                                u.promptTokensDetails().flatMap(d -> d.cachedTokens()).orElse(0L));
              });
    }
    return result;
  }

  /** With and without the engines' KV events (precise and approximate index). */
  @org.junit.jupiter.params.ParameterizedTest
  @org.junit.jupiter.params.provider.ValueSource(booleans = {false, true})
  void secondRequestWithTheSamePrefixIsFasterAndCached(boolean kvEvents) throws Exception {
    Vertx vertx = Vertx.vertx();
    SimEngineConfig engine = SimEngineConfig.builder().build();
    Demo demo =
        await(
            Demo.start(
                vertx,
                GatewayMetrics.newRegistry(),
                engine,
                4,
                0,
                "127.0.0.1",
                0,
                "cache-aware",
                kvEvents));
    io.kvgate.gateway.index.IndexMode expected =
        kvEvents
            ? io.kvgate.gateway.index.IndexMode.PRECISE
            : io.kvgate.gateway.index.IndexMode.APPROXIMATE;
    for (var e : demo.gateway().indexHealth().engines()) {
      io.kvgate.gateway.TestSupport.eventually(e + " " + expected, () -> e.mode() == expected);
    }
    OpenAIClient client =
        OpenAIOkHttpClient.builder()
            .baseUrl(demo.url() + "/v1")
            .apiKey("unused")
            .maxRetries(0)
            .build();
    try {
      // About 8,000 tokens: ~0.5 s of prefill at the calibrated 16k tokens/s; a cache hit skips it.
      String system =
          "You are the support assistant of ACME. Policy clause: refunds within 30 days. "
              .repeat(400);
      long[] first = stream(client, engine.model(), system, "Where is my order?");
      long[] second = stream(client, engine.model(), system, "Can I get a refund?");
      assertEquals(0, first[1], "nothing was cached before the first request");
      assertTrue(second[1] > 7_000, "cached tokens on the second request: " + second[1]);
      assertTrue(
          second[0] * 2 < first[0],
          "TTFT first " + first[0] / 1e6 + " ms, second " + second[0] / 1e6 + " ms");
    } finally {
      client.close();
      await(demo.close());
      await(vertx.close());
    }
  }
}
