package io.kvgate.gateway;

import static io.kvgate.gateway.TestSupport.*;
import static org.junit.jupiter.api.Assertions.*;

import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.core.http.StreamResponse;
import com.openai.errors.BadRequestException;
import com.openai.errors.NotFoundException;
import com.openai.models.chat.completions.ChatCompletion;
import com.openai.models.chat.completions.ChatCompletionChunk;
import com.openai.models.chat.completions.ChatCompletionCreateParams;
import com.openai.models.chat.completions.ChatCompletionStreamOptions;
import com.openai.models.completions.Completion;
import com.openai.models.completions.CompletionCreateParams;
import com.openai.models.models.Model;
import io.kvgate.sim.SimEngineConfig;
import io.kvgate.sim.SimFleet;
import io.vertx.core.Vertx;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The official OpenAI Java SDK pointed at kvgate (in front of simulated engines) just works. */
class OpenAiSdkIntegrationTest {

  static final String MODEL = "kvgate-sim-8b";
  static Vertx vertx;
  static SimFleet fleet;
  static Gateway gateway;
  static OpenAIClient client;

  @BeforeAll
  static void start() throws Exception {
    vertx = Vertx.vertx();
    fleet =
        await(
            SimFleet.start(vertx, SimEngineConfig.builder().model(MODEL).speed(20).build(), 2, 0));
    gateway = await(Gateway.start(vertx, config(MODEL, fleet.urls(), "cache-aware")));
    client =
        OpenAIOkHttpClient.builder()
            .baseUrl("http://127.0.0.1:" + gateway.port() + "/v1")
            .apiKey("unused")
            .maxRetries(0)
            .build();
  }

  @AfterAll
  static void stop() throws Exception {
    client.close();
    await(gateway.close());
    await(fleet.close());
    await(vertx.close());
  }

  @Test
  void listsModels() {
    List<String> ids = new ArrayList<>();
    client.models().list().autoPager().forEach((Model m) -> ids.add(m.id()));
    assertTrue(ids.contains(MODEL), ids.toString());
  }

  @Test
  void chatNonStreaming() {
    ChatCompletion c =
        client
            .chat()
            .completions()
            .create(
                ChatCompletionCreateParams.builder()
                    .model(MODEL)
                    .addSystemMessage("You are terse.")
                    .addUserMessage("Hello!")
                    .maxCompletionTokens(8)
                    .build());
    assertFalse(c.choices().isEmpty());
    assertTrue(c.choices().get(0).message().content().orElse("").length() > 0);
    assertEquals(8, c.usage().orElseThrow().completionTokens());
  }

  @Test
  void chatStreamingWithUsage() {
    StringBuilder text = new StringBuilder();
    long[] usageChunks = {0};
    long[] completionTokens = {-1};
    try (StreamResponse<ChatCompletionChunk> stream =
        client
            .chat()
            .completions()
            .createStreaming(
                ChatCompletionCreateParams.builder()
                    .model(MODEL)
                    .addUserMessage("Stream please")
                    .maxCompletionTokens(12)
                    .streamOptions(ChatCompletionStreamOptions.builder().includeUsage(true).build())
                    .build())) {
      stream.stream()
          .forEach(
              chunk -> {
                chunk.choices().forEach(ch -> ch.delta().content().ifPresent(text::append));
                chunk
                    .usage()
                    .ifPresent(
                        u -> {
                          usageChunks[0]++;
                          completionTokens[0] = u.completionTokens();
                        });
              });
    }
    assertTrue(text.length() > 0);
    assertEquals(1, usageChunks[0]);
    assertEquals(12, completionTokens[0]);
  }

  @Test
  void legacyCompletions() {
    Completion c =
        client
            .completions()
            .create(
                CompletionCreateParams.builder()
                    .model(MODEL)
                    .prompt("Once upon a time")
                    .maxTokens(5)
                    .build());
    assertFalse(c.choices().isEmpty());
    assertEquals(5, c.usage().orElseThrow().completionTokens());
  }

  @Test
  void unknownModelIsNotFound() {
    NotFoundException e =
        assertThrows(
            NotFoundException.class,
            () ->
                client
                    .chat()
                    .completions()
                    .create(
                        ChatCompletionCreateParams.builder()
                            .model("no-such-model")
                            .addUserMessage("hi")
                            .build()));
    assertEquals(404, e.statusCode());
  }

  @Test
  void badRequestIsBadRequest() {
    BadRequestException e =
        assertThrows(
            BadRequestException.class,
            () ->
                client
                    .chat()
                    .completions()
                    .create(
                        ChatCompletionCreateParams.builder()
                            .model(MODEL)
                            .messages(List.of())
                            .build()));
    assertEquals(400, e.statusCode());
  }

  @Test
  void sharedLongPrefixHitsTheEngineCache() {
    String system = "You are the assistant of a large company. ".repeat(200);
    ChatCompletion first =
        client
            .chat()
            .completions()
            .create(
                ChatCompletionCreateParams.builder()
                    .model(MODEL)
                    .addSystemMessage(system)
                    .addUserMessage("first question")
                    .maxCompletionTokens(2)
                    .build());
    ChatCompletion second =
        client
            .chat()
            .completions()
            .create(
                ChatCompletionCreateParams.builder()
                    .model(MODEL)
                    .addSystemMessage(system)
                    .addUserMessage("second question")
                    .maxCompletionTokens(2)
                    .build());
    long cached =
        second.usage().orElseThrow().promptTokensDetails().orElseThrow().cachedTokens().orElse(0L);
    assertTrue(
        cached > 1000,
        "second request should hit the first one's cached prefix, cached="
            + cached
            + " first="
            + first.usage());
  }
}
