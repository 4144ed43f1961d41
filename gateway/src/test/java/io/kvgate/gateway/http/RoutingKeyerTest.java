package io.kvgate.gateway.http;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.kvgate.gateway.openai.OpenAiRequest;
import io.kvgate.gateway.openai.OpenAiRequestParser;
import io.kvgate.routing.RoutingRequest;
import io.kvgate.routing.prefix.BlockHasher;
import io.kvgate.routing.prefix.ChatPromptRenderer;
import io.vertx.core.MultiMap;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.Test;

class RoutingKeyerTest {

  private static final String MODEL = "m";

  private static OpenAiRequest chat(String system, String... turns) {
    JsonArray messages =
        new JsonArray().add(new JsonObject().put("role", "system").put("content", system));
    for (int i = 0; i < turns.length; i++) {
      messages.add(
          new JsonObject().put("role", i % 2 == 0 ? "user" : "assistant").put("content", turns[i]));
    }
    Buffer body = new JsonObject().put("model", MODEL).put("messages", messages).toBuffer();
    return OpenAiRequestParser.parse("/v1/chat/completions", body);
  }

  /** The chain the engine's template gives, built without any cache. */
  private static long[] expected(int blockSizeChars, String system, String... turns) {
    StringBuilder prompt = new StringBuilder();
    ChatPromptRenderer.renderMessage(prompt, "system", system);
    for (int i = 0; i < turns.length; i++)
      ChatPromptRenderer.renderMessage(prompt, i % 2 == 0 ? "user" : "assistant", turns[i]);
    ChatPromptRenderer.renderGenerationPrompt(prompt);
    return new BlockHasher(blockSizeChars)
        .hash(BlockHasher.seed(MODEL, null, null), prompt)
        .toArray();
  }

  @Test
  void aConversationsNextTurnReusesTheHashingOfItsEarlierTurnsAndKeysTheSame() {
    RoutingKeyer keyer = new RoutingKeyer(64, 4);
    String system = "You are a careful assistant. ".repeat(200);
    String turn1 = "Summarise the attached report. ".repeat(40);
    String answer1 = "The report says many things. ".repeat(30);
    MultiMap headers = MultiMap.caseInsensitiveMultiMap();

    RoutingRequest first = keyer.key(chat(system, turn1), headers, MODEL, null);
    RoutingRequest second =
        keyer.key(chat(system, turn1, answer1, "And the conclusion?"), headers, MODEL, null);

    assertEquals(
        java.util.Arrays.toString(expected(64, system, turn1)),
        java.util.Arrays.toString(first.chain().toArray()));
    assertEquals(
        java.util.Arrays.toString(expected(64, system, turn1, answer1, "And the conclusion?")),
        java.util.Arrays.toString(second.chain().toArray()));
    // First request: system and turn1 hashed (2 misses); second: both replayed, answer1 hashed.
    assertEquals(2, keyer.segments().hits());
    assertEquals(3, keyer.segments().misses());
  }
}
