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

  /** Whether the decoder takes the literal: ASCII bytes, no control bytes, escapes to ASCII. */
  private static boolean asciiOnly(String lit) {
    for (int i = 0; i < lit.length(); i++) {
      char c = lit.charAt(i);
      if (c < 0x20 || c > 0x7E) return false;
      if (c == '\\'
          && lit.charAt(i + 1) == 'u'
          && Integer.parseInt(lit.substring(i + 2, i + 6), 16) > 0x7F) {
        return false;
      }
      if (c == '\\') i++;
    }
    return true;
  }

  @Test
  void randomStringsDecodeAsJacksonDecodesThemOrAreLeftToIt() throws Exception {
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
      "\\u007f",
      "\\u0000",
      "{\\\"x\\\": 1}",
      "0123456789abcdef",
      "~",
      "é",
      "€",
      "😀",
      "日本語",
      "\\u00e9",
      "\\u20ac",
      "\\ud83d\\ude00"
    };
    int decoded = 0;
    for (int n = 0; n < 20_000; n++) {
      StringBuilder lit = new StringBuilder("\"");
      int parts = r.nextInt(40);
      // Most literals from the ASCII pieces only, so both outcomes are common.
      int choices = n % 3 == 0 ? pieces.length : 16;
      for (int k = 0; k < parts; k++) lit.append(pieces[r.nextInt(choices)]);
      lit.append('"');
      byte[] bytes = ascii(lit.toString());
      String expected = jackson(bytes);
      byte[] framed = new byte[bytes.length + 7];
      System.arraycopy(bytes, 0, framed, 3, bytes.length);
      framed[3 + bytes.length] = ',';
      JsonStrings d = new JsonStrings();
      String got = d.decode(bytes, 0, bytes.length);
      if (!asciiOnly(lit.toString())) {
        assertNull(got, lit.toString());
        assertNull(d.decode(framed, 3, framed.length), lit.toString());
        continue;
      }
      assertEquals(expected, got, lit.toString());
      assertEquals(bytes.length, d.end, lit.toString());
      assertEquals(expected, d.decode(framed, 3, framed.length), lit.toString());
      assertEquals(3 + bytes.length, d.end, lit.toString());
      decoded++;
    }
    assertTrue(decoded > 10_000, "decoded " + decoded);
  }

  @Test
  void whatItDoesNotDecodeIsLeftToJackson() {
    for (String lit :
        new String[] {
          "\"lone high \\ud83d here\"",
          "\"bad escape \\x41\"",
          "\"bad hex \\u00g1\"",
          "\"short hex \\u00",
          "\"no closing quote",
          "\"ends in a backslash \\",
          "\"a raw\ttab\"",
          "\"caf\u00e9\""
        }) {
      byte[] b = lit.getBytes(StandardCharsets.UTF_8);
      assertNull(new JsonStrings().decode(b, 0, b.length), lit);
    }
    assertNull(new JsonStrings().decode(ascii("x\"a\""), 0, 4), "not at a quote");
  }

  @Test
  void theSwarSearchStopsAtTheFirstQuoteBackslashControlOrNonAsciiByte() {
    byte[] specials = {'"', '\\', 0x00, 0x0A, 0x1F, (byte) 0x80, (byte) 0xC3, (byte) 0xFF};
    for (int len = 0; len < 40; len++) {
      for (int at = 0; at < len; at++) {
        for (byte special : specials) {
          byte[] a = new byte[len];
          for (int i = 0; i < len; i++) a[i] = (byte) (i % 2 == 0 ? 'x' : ' ');
          a[at] = special;
          // Something special after it too, and bytes just above the thresholds before it.
          if (at + 1 < len) a[at + 1] = 0x01;
          if (at > 0) a[at - 1] = (byte) (at % 2 == 0 ? 0x21 : 0x7F);
          assertEquals(at, JsonStrings.nextSpecial(a, 0, len), len + "/" + at + "/" + special);
          assertEquals(-1, JsonStrings.nextSpecial(a, 0, at), len + "/" + at + "/" + special);
        }
      }
    }
  }

  @Test
  void requestsParseToTheTreeJacksonBuilds() throws Exception {
    SplittableRandom r = new SplittableRandom(7);
    String[] texts = {
      // JSON-escaped fragments of a string literal.
      "plain words ",
      "tab\\t",
      "quote \\\"q\\\" ",
      "é and €",
      "😀",
      "日本語 ",
      "\\\\",
      "\\u00e9",
      "\\ud83d\\ude00"
    };
    com.fasterxml.jackson.databind.ObjectMapper mapper =
        new com.fasterxml.jackson.databind.ObjectMapper();
    for (int n = 0; n < 2_000; n++) {
      StringBuilder body = new StringBuilder("{\"model\":\"m\",\"messages\":[");
      int messages = 1 + r.nextInt(4);
      for (int m = 0; m < messages; m++) {
        if (m > 0) body.append(',');
        StringBuilder text = new StringBuilder();
        for (int k = r.nextInt(30); k > 0; k--) text.append(texts[r.nextInt(texts.length)]);
        body.append("{\"role\":\"user\",");
        if (r.nextBoolean()) {
          body.append("\"content\":\"")
              .append(text)
              .append("\",\"name\":\"n")
              .append(m)
              .append('"');
        } else {
          body.append("\"content\":[{\"type\":\"text\",\"text\":\"")
              .append(text)
              .append("\"}],\"name\":\"n")
              .append(m)
              .append('"');
        }
        body.append('}');
      }
      body.append("],\"user\":\"u\"}");
      byte[] bytes = body.toString().getBytes(StandardCharsets.UTF_8);
      com.fasterxml.jackson.databind.JsonNode expected = mapper.readTree(bytes);
      OpenAiRequest req = OpenAiRequestParser.parse("/v1/chat/completions", Buffer.buffer(bytes));
      for (int m = 0; m < messages; m++) {
        com.fasterxml.jackson.databind.JsonNode want =
            expected.get("messages").get(m).get("content");
        com.fasterxml.jackson.databind.JsonNode got = req.get("messages").get(m).get("content");
        if (want.isTextual()) assertEquals(want.asText(), got.asText(), body.toString());
        else assertEquals(want.get(0).get("text").asText(), got.get(0).get("text").asText());
      }
      assertEquals("u", req.get("user").asText(), body.toString());
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
