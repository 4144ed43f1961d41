package io.kvgate.gateway.openai;

import static org.junit.jupiter.api.Assertions.*;

import io.vertx.core.buffer.Buffer;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.lang.management.ManagementFactory;
import org.junit.jupiter.api.Test;

/**
 * The parser's per-request bounds: each limit refuses with a 400 naming its code and param, at the
 * limit it accepts, and what it does not read is never built.
 */
class BoundedParseTest {

  static final OpenAiRequestParser.Bounds SMALL = new OpenAiRequestParser.Bounds(3, 4, 100, 20);

  static Buffer chat(JsonArray messages) {
    return new JsonObject().put("model", "m").put("messages", messages).toBuffer();
  }

  static JsonArray messages(int n, String content) {
    JsonArray a = new JsonArray();
    for (int i = 0; i < n; i++) a.add(new JsonObject().put("role", "user").put("content", content));
    return a;
  }

  static OpenAiException refused(String path, Buffer body) {
    return assertThrows(OpenAiException.class, () -> OpenAiRequestParser.parse(path, body, SMALL));
  }

  @Test
  void messagesOverTheLimitAreRefusedAtTheLimitAccepted() {
    assertEquals(
        3,
        OpenAiRequestParser.parse("/v1/chat/completions", chat(messages(3, "hi")), SMALL)
            .get("messages")
            .size());
    OpenAiException e = refused("/v1/chat/completions", chat(messages(4, "hi")));
    assertEquals(400, e.status());
    assertEquals("invalid_request_error", e.type());
    assertEquals("too_many_messages", e.code());
    assertEquals("messages", e.param());
    assertTrue(e.getMessage().contains("limits.maxMessages"), e.getMessage());
    // Responses input items and a batch's nested prompts count as items too.
    JsonArray items = new JsonArray();
    for (int i = 0; i < 4; i++) items.add(new JsonArray().add(1).add(2));
    OpenAiException batch =
        refused(
            "/v1/completions", new JsonObject().put("model", "m").put("prompt", items).toBuffer());
    assertEquals("too_many_messages", batch.code());
    assertEquals("prompt", batch.param());
  }

  @Test
  void contentPartsAreCountedAcrossMessages() {
    JsonArray parts = new JsonArray();
    parts.add(new JsonObject().put("type", "text").put("text", "a"));
    parts.add(
        new JsonObject()
            .put("type", "image_url")
            .put("image_url", new JsonObject().put("url", "u")));
    JsonArray two =
        new JsonArray()
            .add(new JsonObject().put("role", "user").put("content", parts))
            .add(new JsonObject().put("role", "user").put("content", parts));
    OpenAiRequest ok = OpenAiRequestParser.parse("/v1/chat/completions", chat(two), SMALL);
    assertEquals(
        "u", ok.get("messages").get(0).get("content").get(1).get("image_url").get("url").asText());
    OpenAiException e =
        refused(
            "/v1/chat/completions",
            chat(
                two.copy()
                    .add(
                        new JsonObject()
                            .put("role", "user")
                            .put("content", new JsonArray().add("x")))));
    assertEquals("too_many_content_parts", e.code());
    assertEquals("messages", e.param());
    assertTrue(e.getMessage().contains("limits.maxContentParts"), e.getMessage());
  }

  @Test
  void promptCharactersAreCountedInEveryPromptField() {
    // 3 roles of 4 chars and 3 contents of 29: 99 characters, one under the limit.
    OpenAiRequestParser.parse("/v1/chat/completions", chat(messages(3, "x".repeat(29))), SMALL);
    OpenAiException e = refused("/v1/chat/completions", chat(messages(3, "x".repeat(30))));
    assertEquals("prompt_too_long", e.code());
    assertEquals("messages", e.param());
    assertTrue(e.getMessage().contains("limits.maxPromptChars"), e.getMessage());
    OpenAiException prompt =
        refused(
            "/v1/completions",
            new JsonObject().put("model", "m").put("prompt", "y".repeat(101)).toBuffer());
    assertEquals("prompt", prompt.param());
    assertEquals("prompt_too_long", prompt.code());
    // Token ids count their digits and a separator: 17 ids of 5 digits are 102 characters.
    JsonArray ids = new JsonArray();
    for (int i = 0; i < 17; i++) ids.add(12345);
    assertEquals(
        "prompt_too_long",
        refused("/v1/completions", new JsonObject().put("model", "m").put("prompt", ids).toBuffer())
            .code());
    OpenAiException instructions =
        refused(
            "/v1/responses",
            new JsonObject()
                .put("model", "m")
                .put("instructions", "z".repeat(101))
                .put("input", "hi")
                .toBuffer());
    assertEquals("instructions", instructions.param());
  }

  @Test
  void promptValuesAreBounded() {
    JsonArray ids = new JsonArray();
    for (int i = 0; i < 21; i++) ids.add(1);
    OpenAiException e =
        refused(
            "/v1/completions", new JsonObject().put("model", "m").put("prompt", ids).toBuffer());
    assertEquals("too_many_prompt_values", e.code());
    assertEquals("prompt", e.param());
    ids.remove(0);
    assertEquals(
        20,
        OpenAiRequestParser.parse(
                "/v1/completions",
                new JsonObject().put("model", "m").put("prompt", ids).toBuffer(),
                SMALL)
            .get("prompt")
            .size());
  }

  @Test
  void fieldsKvgateDoesNotReadAreNotBuiltButForwarded() {
    JsonArray tools = new JsonArray();
    for (int i = 0; i < 1000; i++) tools.add(new JsonObject().put("type", "function"));
    JsonObject body =
        new JsonObject()
            .put("model", "m")
            .put("tools", tools)
            .put("temperature", 0.5)
            .put(
                "messages",
                new JsonArray()
                    .add(
                        new JsonObject()
                            .put("role", "assistant")
                            .put("name", "bot")
                            .putNull("content")
                            .put("tool_calls", new JsonArray().add(new JsonObject()))));
    OpenAiRequest r = OpenAiRequestParser.parse("/v1/chat/completions", body.toBuffer(), SMALL);
    assertNull(r.get("tools"), "tools are not built");
    assertNull(r.get("temperature"));
    assertNull(r.get("messages").get(0).get("name"));
    assertTrue(r.get("messages").get(0).has("tool_calls"), "a tool call message is valid");
    assertEquals(body, new JsonObject(r.raw()), "the body goes upstream as received");
    assertNull(r.withoutPrompt().get("messages"), "the exchange keeps no prompt tree");
    assertEquals("m", r.withoutPrompt().model());
  }

  @Test
  void malformedShapesAre400() {
    for (String bad :
        new String[] {
          "",
          "   ",
          "[1]",
          "\"s\"",
          "null",
          "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]} {}",
          "{\"model\":\"m\",\"model\":7,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}",
          "{\"model\":\"m\",\"max_tokens\":99999999999999999999999,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}",
          "{\"model\":\"m\",\"x\":" + "[".repeat(1500) + "]".repeat(1500) + "}",
          "{\"model\":\"m\",\"max_tokens\":1" + "0".repeat(2000) + "}",
          "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"a\u0000b\"}]}",
        }) {
      OpenAiException e =
          assertThrows(
              OpenAiException.class,
              () -> OpenAiRequestParser.parse("/v1/chat/completions", Buffer.buffer(bad)),
              bad.length() > 80 ? bad.substring(0, 80) : bad);
      assertEquals(400, e.status(), bad);
      assertEquals("invalid_request_error", e.type());
    }
    byte[] invalidUtf8 =
        "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"\u00e9\"}]}"
            .getBytes(java.nio.charset.StandardCharsets.UTF_8);
    invalidUtf8[invalidUtf8.length - 5] = 0x28; // the second byte of é no longer continues it
    assertEquals(
        400,
        assertThrows(
                OpenAiException.class,
                () -> OpenAiRequestParser.parse("/v1/chat/completions", Buffer.buffer(invalidUtf8)))
            .status());
  }

  /**
   * The case the issue measured at ~450 MB of heap: one million tiny messages. With the default
   * bounds it is refused at message 10,001, having allocated a small fraction of the body.
   */
  @Test
  void aMillionTinyMessagesAreRefusedCheaply() {
    StringBuilder b = new StringBuilder(16_000_000).append("{\"model\":\"m\",\"messages\":[");
    for (int i = 0; i < 1_000_000; i++) {
      if (i > 0) b.append(',');
      b.append("{\"role\":\"user\",\"content\":\"x\"}");
    }
    Buffer body = Buffer.buffer(b.append("]}").toString());
    b = null;
    com.sun.management.ThreadMXBean threads =
        (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
    long before = threads.getCurrentThreadAllocatedBytes();
    OpenAiException e =
        assertThrows(
            OpenAiException.class, () -> OpenAiRequestParser.parse("/v1/chat/completions", body));
    long allocated = threads.getCurrentThreadAllocatedBytes() - before;
    assertEquals("too_many_messages", e.code());
    assertTrue(
        allocated < 16L << 20,
        "allocated " + allocated + " bytes for a " + body.length() + "-byte body");
  }
}
