package io.kvgate.gateway.openai;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * The prompt-string decoder against Jackson's own decoding: the same {@code String} for every
 * string it decodes, null (so the caller asks Jackson) for every one it would decode differently,
 * and errors still raised by the parser that skips the token.
 */
class JsonStringsTest {

  private static final JsonFactory FACTORY = new JsonFactory();

  /** Jackson's value of the string literal {@code lit} (its quotes included). */
  private static String jackson(byte[] lit) throws Exception {
    try (JsonParser p = FACTORY.createParser(lit)) {
      assertEquals(JsonToken.VALUE_STRING, p.nextToken());
      return p.getText();
    }
  }

  private static byte[] ascii(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  @Test
  void randomStringsDecodeAsJacksonDecodesThem() throws Exception {
    SplittableRandom r = new SplittableRandom(19);
    String[] pieces = {
      "a",
      "hello world ",
      "\\n",
      "\\t",
      "\\\"",
      "\\\\",
      "\\/",
      "\\b",
      "\\f",
      "\\r",
      "\\u0041",
      "\\u00e9",
      "\\u20ac",
      "\\ud83d\\ude00",
      "é",
      "€",
      "😀",
      "日本語",
      "\\u0000",
      "{\"x\": 1}",
      "0123456789abcdef"
    };
    int decoded = 0;
    for (int n = 0; n < 20_000; n++) {
      StringBuilder lit = new StringBuilder("\"");
      int parts = r.nextInt(40);
      for (int k = 0; k < parts; k++) lit.append(pieces[r.nextInt(pieces.length)]);
      lit.append('"');
      byte[] bytes = ascii(lit.toString());
      String expected = jackson(bytes);
      // With and without bytes before and after the literal in the array.
      byte[] framed = new byte[bytes.length + 7];
      System.arraycopy(bytes, 0, framed, 3, bytes.length);
      framed[3 + bytes.length] = ',';
      assertEquals(expected, JsonStrings.decode(bytes, 0, bytes.length), lit.toString());
      assertEquals(expected, JsonStrings.decode(framed, 3, framed.length), lit.toString());
      decoded++;
    }
    assertEquals(20_000, decoded);
  }

  @Test
  void whatItDoesNotDecodeIsLeftToJackson() {
    for (String lit :
        new String[] {
          "\"lone high \\ud83d here\"",
          "\"lone low \\ude00 here\"",
          "\"high then no low \\ud83d\\u0041\"",
          "\"bad escape \\x41\"",
          "\"bad hex \\u00g1\"",
          "\"short hex \\u00",
          "\"no closing quote",
          "\"ends in a backslash \\"
        }) {
      assertNull(JsonStrings.decode(ascii(lit), 0, ascii(lit).length), lit);
    }
    assertNull(JsonStrings.decode(ascii("x\"a\""), 0, 4), "not at a quote");
  }

  @Test
  void theSwarSearchFindsTheFirstQuoteOrBackslashAtEveryOffset() {
    for (int len = 0; len < 40; len++) {
      for (int at = 0; at < len; at++) {
        for (byte special : new byte[] {'"', '\\'}) {
          byte[] a = new byte[len];
          for (int i = 0; i < len; i++) a[i] = (byte) (i % 2 == 0 ? 'x' : 0xE9);
          a[at] = special;
          if (at + 1 < len) a[at + 1] = '"';
          assertEquals(at, JsonStrings.nextSpecial(a, 0, len), len + "/" + at);
          assertEquals(-1, JsonStrings.nextSpecial(a, 0, at), len + "/" + at);
        }
      }
    }
  }

  @Test
  void invalidUtf8AndControlCharactersInAPromptAreStillRefused() {
    byte[][] bad = {
      {(byte) 0xC3, 0x28},
      {(byte) 0xFF},
      {(byte) 0x80},
      {(byte) 0xE2, (byte) 0x82, 0x28},
      {0},
      {'\n'}
    };
    for (byte[] insert : bad) {
      ByteArrayOutputStream body = new ByteArrayOutputStream();
      body.writeBytes(ascii("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"a"));
      body.writeBytes(insert);
      body.writeBytes(ascii("b\\nc\"}]}"));
      OpenAiException e =
          assertThrows(
              OpenAiException.class,
              () ->
                  OpenAiRequestParser.parse(
                      "/v1/chat/completions", Buffer.buffer(body.toByteArray())));
      assertEquals(400, e.status());
    }
  }

  @Test
  void aParsedRequestHoldsThePromptJacksonWouldHaveRead() {
    String content = "line one\nline \"two\"\ttabbed, é, €, 😀, \u0001 and a backslash \\ end";
    JsonObject body =
        new JsonObject()
            .put("model", "m")
            .put(
                "messages",
                new JsonArray()
                    .add(new JsonObject().put("role", "system").put("content", content))
                    .add(
                        new JsonObject()
                            .put("role", "user")
                            .put(
                                "content",
                                new JsonArray()
                                    .add(
                                        new JsonObject()
                                            .put("type", "text")
                                            .put("text", content)))));
    OpenAiRequest req = OpenAiRequestParser.parse("/v1/chat/completions", body.toBuffer());
    assertEquals(content, req.get("messages").get(0).get("content").asText());
    assertEquals(content, req.get("messages").get(1).get("content").get(0).get("text").asText());
    OpenAiRequest completion =
        OpenAiRequestParser.parse(
            "/v1/completions",
            new JsonObject()
                .put("model", "m")
                .put("prompt", new JsonArray().add(content).add("second"))
                .toBuffer());
    assertEquals(content, completion.get("prompt").get(0).asText());
    assertEquals("second", completion.get("prompt").get(1).asText());
  }
}
