package io.kvgate.gateway;

import static io.kvgate.gateway.TestSupport.*;
import static org.junit.jupiter.api.Assertions.*;

import io.kvgate.gateway.config.GatewayConfig;
import io.kvgate.sim.SimEngineConfig;
import io.kvgate.sim.SimFleet;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.io.ByteArrayOutputStream;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * A few thousand malformed requests from a seeded generator (broken JSON, wrong types, deep
 * nesting, huge numbers, invalid UTF-8, NUL bytes, duplicate keys, wrong content types, too many
 * messages or parts, oversized and empty bodies, ...), sent concurrently with a steady stream of
 * valid requests: each malformed one is answered with the expected 4xx in OpenAI's error shape,
 * every valid one succeeds, the limit refusals are counted exactly, and the gateway serves
 * afterwards.
 */
class MalformedRequestFuzzTest {

  static final String MODEL = "m";
  static final long SEED = 14;
  static final int REQUESTS = 3000;
  static final int MAX_BODY = 256 * 1024;

  Vertx vertx;
  SimFleet fleet;
  Gateway gateway;

  @BeforeEach
  void start() throws Exception {
    vertx = Vertx.vertx();
    fleet =
        await(
            SimFleet.start(vertx, SimEngineConfig.builder().model(MODEL).speed(500).build(), 2, 0));
    GatewayConfig c = config(MODEL, fleet.urls(), "cache-aware");
    gateway =
        await(
            Gateway.start(
                vertx,
                c.withLimits(
                    new GatewayConfig.Limits(MAX_BODY, 3, 16 * 1024)
                        .withParse(
                            new GatewayConfig.ParseLimits(
                                50, 50, 100_000, 5_000, 1 << 20, Duration.ofSeconds(10))))));
  }

  @AfterEach
  void stop() throws Exception {
    await(gateway.close());
    await(fleet.close());
    await(vertx.close());
  }

  /** One generated request and the answer it must get. */
  record Case(String kind, byte[] body, String contentType, int status, String code) {}

  /** Generates malformed requests; every one of them has a known answer. */
  static final class Generator {
    final Random r;
    final Map<String, Integer> limitCodes = new TreeMap<>();

    Generator(long seed) {
      r = new Random(seed);
    }

    String word() {
      int n = 1 + r.nextInt(12);
      StringBuilder b = new StringBuilder(n);
      for (int i = 0; i < n; i++) b.append((char) ('a' + r.nextInt(26)));
      return b.toString();
    }

    JsonObject message(String role) {
      return new JsonObject().put("role", role).put("content", word() + " " + word());
    }

    JsonObject valid() {
      JsonArray messages = new JsonArray();
      int n = 1 + r.nextInt(3);
      for (int i = 0; i < n; i++) messages.add(message(i % 2 == 0 ? "user" : "assistant"));
      return new JsonObject()
          .put("model", MODEL)
          .put("max_tokens", 1 + r.nextInt(4))
          .put("stream", r.nextBoolean())
          .put("messages", messages);
    }

    static byte[] utf8(String s) {
      return s.getBytes(StandardCharsets.UTF_8);
    }

    Case bad(String kind, byte[] body) {
      return new Case(kind, body, "application/json", 400, null);
    }

    Case bad(String kind, String body) {
      return bad(kind, utf8(body));
    }

    Case limit(String kind, JsonObject body, String code) {
      limitCodes.merge(code, 1, Integer::sum);
      return new Case(kind, utf8(body.encode()), "application/json", 400, code);
    }

    /** {@code body} with {@code field} set to a raw JSON value (any text, valid or not). */
    String withRaw(JsonObject body, String field, String raw) {
      body.put(field, "\u0001PLACEHOLDER\u0001");
      return body.encode().replace("\"\\u0001PLACEHOLDER\\u0001\"", raw);
    }

    <T> T pick(List<T> options) {
      return options.get(r.nextInt(options.size()));
    }

    Case next() {
      JsonObject v = valid();
      String text = v.encode();
      switch (r.nextInt(19)) {
        case 0 -> {
          return bad("truncated", text.substring(0, r.nextInt(text.length())));
        }
        case 1 -> {
          // A structural character (outside strings) replaced by one JSON has no use for.
          List<Integer> structural = new ArrayList<>();
          boolean inString = false;
          for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            if (c == '"' && (i == 0 || text.charAt(i - 1) != '\\')) inString = !inString;
            else if (!inString && "{}[]:,".indexOf(c) >= 0) structural.add(i);
          }
          int at = pick(structural);
          char with = pick(List.of(';', '=', 'x', '#', '\'', '(', ')'));
          return bad("corrupted", text.substring(0, at) + with + text.substring(at + 1));
        }
        case 2 -> {
          if (r.nextInt(6) == 0) {
            v.remove("model");
            return bad("missing model", v.encode());
          }
          return bad(
              "model type",
              withRaw(v, "model", pick(List.of("7", "true", "[]", "{}", "null", "1.5"))));
        }
        case 3 -> {
          String raw =
              pick(
                  List.of(
                      "\"hi\"",
                      "3",
                      "{}",
                      "[]",
                      "null",
                      "[1]",
                      "[\"x\"]",
                      "[[]]",
                      "[{\"content\":\"x\"}]",
                      "[{\"role\":5,\"content\":\"x\"}]",
                      "[{\"role\":\"user\"}]",
                      "[{\"role\":\"user\",\"content\":5}]",
                      "[{\"role\":\"user\",\"content\":{}}]",
                      "[{\"role\":\"user\",\"content\":true}]"));
          return bad("messages type", withRaw(v, "messages", raw));
        }
        case 4 -> {
          return bad(
              "stream type",
              withRaw(v, "stream", pick(List.of("\"yes\"", "1", "[]", "{}", "0.5"))));
        }
        case 5 -> {
          String raw =
              pick(
                  List.of(
                      "-1",
                      "1.5",
                      "\"10\"",
                      "[]",
                      "{}",
                      "true",
                      "99999999999999999999999",
                      "-99999999999999999999",
                      "1e400"));
          return bad(
              "max_tokens type",
              withRaw(v, r.nextBoolean() ? "max_tokens" : "max_completion_tokens", raw));
        }
        case 6 -> {
          int depth = 1001 + r.nextInt(2000);
          boolean closed = r.nextBoolean();
          String nest = "[".repeat(depth) + (closed ? "]".repeat(depth) : "");
          if (r.nextBoolean()) return bad("deep nesting", withRaw(v, "metadata", nest));
          // In 'messages' each nested array is an item: maxMessages (50) is crossed first.
          String body = withRaw(v, "messages", nest);
          limitCodes.merge("too_many_messages", 1, Integer::sum);
          return new Case("deep nesting", utf8(body), "application/json", 400, "too_many_messages");
        }
        case 7 -> {
          String digits = "1" + "0".repeat(1000 + r.nextInt(4000));
          return r.nextBoolean()
              ? bad("huge number", withRaw(v, "max_tokens", digits))
              : bad(
                  "huge token id",
                  withRaw(new JsonObject().put("model", MODEL), "prompt", "[" + digits + "]"));
        }
        case 8 -> {
          byte[][] invalid = {
            {(byte) 0xC3, 0x28},
            {(byte) 0xFF},
            {(byte) 0x80},
            {(byte) 0xE2, (byte) 0x82, 0x28},
            {(byte) 0xF0, 0x28, (byte) 0x8C, 0x28},
            {(byte) 0xFE, (byte) 0xFE}
          };
          return bad("invalid utf-8", insertIntoContent(v, invalid[r.nextInt(invalid.length)]));
        }
        case 9 -> {
          if (r.nextBoolean()) return bad("nul in string", insertIntoContent(v, new byte[] {0}));
          byte[] b = utf8(text);
          int at = 1 + r.nextInt(b.length - 1);
          ByteArrayOutputStream out = new ByteArrayOutputStream();
          out.write(b, 0, at);
          out.write(0);
          out.write(b, at, b.length - at);
          // A NUL between tokens or inside a string is never valid JSON.
          return bad("nul byte", out.toByteArray());
        }
        case 10 -> {
          String dup =
              pick(
                  List.of(
                      ",\"model\":7}",
                      ",\"messages\":\"x\"}",
                      ",\"stream\":\"y\"}",
                      ",\"max_tokens\":-5}",
                      ",\"messages\":[]}"));
          return bad("duplicate key", text.substring(0, text.length() - 1) + dup);
        }
        case 11 -> {
          String type =
              pick(
                  List.of(
                      "text/plain",
                      "application/xml",
                      "multipart/form-data; boundary=x",
                      "application/x-www-form-urlencoded",
                      "image/png"));
          return new Case("content type", utf8(text), type, 415, "unsupported_media_type");
        }
        case 12 -> {
          switch (r.nextInt(4)) {
            case 0 -> {
              JsonArray m = new JsonArray();
              for (int i = 51 + r.nextInt(150); i > 0; i--) m.add(message("user"));
              return limit("many messages", v.put("messages", m), "too_many_messages");
            }
            case 1 -> {
              JsonArray parts = new JsonArray();
              for (int i = 51 + r.nextInt(150); i > 0; i--)
                parts.add(new JsonObject().put("type", "text").put("text", word()));
              JsonArray m =
                  new JsonArray().add(new JsonObject().put("role", "user").put("content", parts));
              return limit("many parts", v.put("messages", m), "too_many_content_parts");
            }
            case 2 -> {
              String content = "w".repeat(100_001 + r.nextInt(100_000));
              JsonArray m =
                  new JsonArray().add(new JsonObject().put("role", "user").put("content", content));
              return limit("long prompt", v.put("messages", m), "prompt_too_long");
            }
            default -> {
              JsonArray ids = new JsonArray();
              for (int i = 5_001 + r.nextInt(5_000); i > 0; i--) ids.add(r.nextInt(10));
              return limit(
                  "many token ids",
                  new JsonObject().put("model", MODEL).put("prompt", ids),
                  "too_many_prompt_values");
            }
          }
        }
        case 13 -> {
          if (r.nextInt(8) != 0) return bad("empty", r.nextBoolean() ? "" : " \r\n\t ");
          byte[] big = new byte[MAX_BODY + 1 + r.nextInt(1000)];
          java.util.Arrays.fill(big, (byte) ' ');
          return new Case("oversized", big, "application/json", 413, "request_too_large");
        }
        case 14 -> {
          return bad("not an object", pick(List.of("[]", "\"x\"", "42", "null", "true", "[{}]")));
        }
        case 15 -> {
          return bad("trailing data", text + pick(List.of("x", "{}", "[1]", "1", "\"s\"")));
        }
        case 16 -> {
          String model = "no-such-" + word();
          return new Case(
              "unknown model",
              utf8(v.put("model", model).encode()),
              "application/json",
              404,
              "model_not_found");
        }
        case 17 -> {
          byte[] b = new byte[1 + r.nextInt(200)];
          r.nextBytes(b);
          int[] starts = {'x', '}', ']', ':', ',', '#', 0, 0x7f, 0xC3, 0xFF};
          b[0] = (byte) starts[r.nextInt(starts.length)];
          return bad("random bytes", b);
        }
        default -> {
          // A wrong type deeper in: a message's role or content, a content part list of objects.
          String raw =
              pick(
                  List.of(
                      "[{\"role\":[],\"content\":\"x\"}]",
                      "[{\"role\":{},\"content\":\"x\"}]",
                      "[{\"role\":\"user\",\"content\":1.5}]",
                      "[{\"role\":\"user\",\"content\":null}]",
                      "[{\"role\":\"user\",\"content\":\"x\"},7]"));
          return bad("message shape", withRaw(v, "messages", raw));
        }
      }
    }

    /** The body with {@code bytes} inserted into its first message's content. */
    byte[] insertIntoContent(JsonObject v, byte[] bytes) {
      String marker = "MARK" + r.nextInt(1000);
      v.getJsonArray("messages").getJsonObject(0).put("content", "ab" + marker + "cd");
      byte[] b = utf8(v.encode());
      String s = new String(b, StandardCharsets.ISO_8859_1);
      int at = s.indexOf(marker);
      ByteArrayOutputStream out = new ByteArrayOutputStream();
      out.write(b, 0, at);
      out.write(bytes, 0, bytes.length);
      out.write(b, at + marker.length(), b.length - at - marker.length());
      return out.toByteArray();
    }
  }

  HttpResponse<String> send(String path, byte[] body, String contentType) throws Exception {
    return HTTP.send(
        HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + gateway.port() + path))
            .timeout(Duration.ofSeconds(30))
            .header("content-type", contentType)
            .POST(HttpRequest.BodyPublishers.ofByteArray(body))
            .build(),
        HttpResponse.BodyHandlers.ofString());
  }

  double refusals(String reason) {
    var c = gateway.registry().find("kvgate_parse_refusals").tag("reason", reason).counter();
    return c == null ? 0 : c.count();
  }

  @Test
  void malformedRequestsGet4xxInOpenAiShapeWhileValidTrafficFlows() throws Exception {
    Generator g = new Generator(SEED);
    List<Case> cases = new ArrayList<>(REQUESTS);
    for (int i = 0; i < REQUESTS; i++) cases.add(g.next());

    AtomicBoolean fuzzing = new AtomicBoolean(true);
    AtomicInteger validOk = new AtomicInteger();
    ConcurrentLinkedQueue<String> validFailures = new ConcurrentLinkedQueue<>();
    ExecutorService pool = Executors.newFixedThreadPool(8 + 2);
    try {
      List<Future<?>> valid = new ArrayList<>();
      for (int t = 0; t < 2; t++) {
        long seed = SEED + 100 + t;
        valid.add(
            pool.submit(
                () -> {
                  Generator vg = new Generator(seed);
                  while (fuzzing.get()) {
                    JsonObject body = vg.valid();
                    try {
                      HttpResponse<String> r =
                          send(
                              "/v1/chat/completions",
                              body.toBuffer().getBytes(),
                              "application/json");
                      boolean ok =
                          r.statusCode() == 200
                              && (body.getBoolean("stream")
                                  ? r.body().contains("data: [DONE]")
                                  : new JsonObject(r.body()).containsKey("choices"));
                      if (ok) validOk.incrementAndGet();
                      else validFailures.add(r.statusCode() + " " + r.body());
                    } catch (Exception e) {
                      validFailures.add(e.toString());
                    }
                  }
                  return null;
                }));
      }

      ConcurrentLinkedQueue<String> wrong = new ConcurrentLinkedQueue<>();
      Map<String, AtomicInteger> byKind = new java.util.concurrent.ConcurrentHashMap<>();
      AtomicInteger next = new AtomicInteger();
      List<Future<?>> fuzz = new ArrayList<>();
      for (int t = 0; t < 8; t++) {
        fuzz.add(
            pool.submit(
                () -> {
                  for (int i = next.getAndIncrement();
                      i < cases.size();
                      i = next.getAndIncrement()) {
                    Case c = cases.get(i);
                    byKind.computeIfAbsent(c.kind(), k -> new AtomicInteger()).incrementAndGet();
                    String path =
                        c.kind().contains("token") ? "/v1/completions" : "/v1/chat/completions";
                    try {
                      HttpResponse<String> r = send(path, c.body(), c.contentType());
                      String problem = check(c, r);
                      if (problem != null) wrong.add("#" + i + " " + c.kind() + ": " + problem);
                    } catch (Exception e) {
                      wrong.add("#" + i + " " + c.kind() + ": " + e);
                    }
                  }
                  return null;
                }));
      }
      for (Future<?> f : fuzz) f.get(120, TimeUnit.SECONDS);
      fuzzing.set(false);
      for (Future<?> f : valid) f.get(60, TimeUnit.SECONDS);

      assertTrue(wrong.isEmpty(), wrong.size() + " wrong answers, e.g. " + first(wrong, 5));
      assertTrue(validFailures.isEmpty(), "valid requests failed: " + first(validFailures, 5));
      assertTrue(validOk.get() > 20, "valid traffic flowed alongside: " + validOk.get());
      assertEquals(26, byKind.size(), "every kind of malformed request was sent: " + byKind);
      for (Map.Entry<String, Integer> e : g.limitCodes.entrySet()) {
        assertEquals(
            (double) e.getValue(), refusals(e.getKey()), "refusals counted for " + e.getKey());
      }
    } finally {
      fuzzing.set(false);
      pool.shutdownNow();
    }

    // Still serving, with nothing left over in the parse budget.
    HttpResponse<String> after =
        post(gateway.port(), "/v1/chat/completions", chat(MODEL, "hi", 2, false));
    assertEquals(200, after.statusCode(), after.body());
    assertEquals(200, get(gateway.port(), "/ready").statusCode());
    assertEquals(0, gateway.registry().find("kvgate_parse_budget_in_use_bytes").gauge().value());
  }

  /** Null when the answer is the expected one in OpenAI's shape, else what is wrong. */
  static String check(Case c, HttpResponse<String> r) {
    String body = r.body().length() > 300 ? r.body().substring(0, 300) + "..." : r.body();
    if (r.statusCode() != c.status())
      return "status " + r.statusCode() + " (expected " + c.status() + "): " + body;
    if (r.statusCode() < 400 || r.statusCode() > 499) return "not a 4xx: " + r.statusCode();
    if (!r.headers().firstValue("content-type").orElse("").startsWith("application/json"))
      return "content-type " + r.headers().firstValue("content-type");
    JsonObject e;
    try {
      e = error(r);
    } catch (Throwable t) {
      return "not an OpenAI error: " + body;
    }
    if (e.getString("message") == null || e.getString("message").isBlank())
      return "no error.message: " + body;
    if (!"invalid_request_error".equals(e.getString("type"))) return "type: " + body;
    if (c.code() != null && !c.code().equals(e.getString("code"))) return "code: " + body;
    return null;
  }

  static String first(java.util.Collection<String> items, int n) {
    return items.stream().limit(n).toList().toString();
  }
}
