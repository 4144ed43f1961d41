package io.kvgate.bench;

import io.kvgate.gateway.openai.OpenAiRequest;
import io.kvgate.gateway.openai.OpenAiRequestParser;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;

/**
 * The gateway's request parse alone ({@link OpenAiRequestParser#parse}): a chat body with one user
 * message of {@code promptTokens} tokens (4 characters each), read into the lean tree routing
 * needs, the prompt decoded into a {@code String}. {@code text}: {@code ascii} (words and spaces),
 * {@code newlines} (about one word in twelve ends a line, so the JSON holds a {@code \n} escape
 * every ~70 bytes), {@code utf8} (one word in eight accented, so the bytes are not all ASCII and
 * the parser validates them itself). Throughput in GB/s = body bytes / time.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
public class RequestParseBenchmark {

  @Param({"1024", "32768", "131072"})
  public int promptTokens;

  @Param({"ascii", "newlines", "utf8"})
  public String text;

  private Buffer body;

  @Setup
  public void setUp() {
    SplittableRandom r = new SplittableRandom(1);
    int chars = promptTokens * Prompts.CHARS_PER_TOKEN;
    StringBuilder sb = new StringBuilder(chars);
    while (sb.length() < chars) {
      int word = 2 + r.nextInt(8);
      boolean accented = text.equals("utf8") && r.nextInt(8) == 0;
      for (int i = 0; i < word && sb.length() < chars; i++) {
        sb.append(accented && i == 0 ? 'é' : (char) ('a' + r.nextInt(26)));
      }
      if (sb.length() < chars)
        sb.append(text.equals("newlines") && r.nextInt(12) == 0 ? '\n' : ' ');
    }
    body =
        new JsonObject()
            .put("model", "bench-model")
            .put("max_tokens", 8)
            .put(
                "messages",
                new JsonArray()
                    .add(new JsonObject().put("role", "user").put("content", sb.toString())))
            .toBuffer();
  }

  @Benchmark
  public OpenAiRequest parse() {
    return OpenAiRequestParser.parse("/v1/chat/completions", body);
  }
}
