import com.fasterxml.jackson.databind.ObjectMapper;
import io.kvgate.gateway.openai.OpenAiRequestParser;
import io.vertx.core.buffer.Buffer;
import java.lang.management.ManagementFactory;

/**
 * Focused timing of the request parse (bench/large-bodies.sh runs it with kvgate.jar on the class
 * path): kvgate's bounded streaming parse (OpenAiRequestParser.parse, validation included) against
 * a full Jackson tree of the same bytes (ObjectMapper.readTree, what the gateway did before), on a
 * normal 4 KB chat body and a 1 MB one. Each is warmed up, then timed over enough iterations for
 * alternating batches; prints microseconds and bytes allocated per parse.
 */
public class ParseTiming {

  static final ObjectMapper JSON = new ObjectMapper();

  public static void main(String[] a) throws Exception {
    for (int size : new int[] {4 * 1024, 1024 * 1024}) {
      Buffer body = chat(size);
      Work bounded = () -> OpenAiRequestParser.parse("/v1/chat/completions", body);
      Work tree = () -> JSON.readTree(body.getBytes());
      long[] ns = time(bounded, tree);
      System.out.printf(
          java.util.Locale.ROOT,
          "body_bytes=%d bounded_us=%.1f readTree_us=%.1f ratio=%.2f bounded_alloc_kb=%d"
              + " readTree_alloc_kb=%d%n",
          body.length(),
          ns[0] / 1e3,
          ns[1] / 1e3,
          (double) ns[0] / ns[1],
          alloc(bounded) >> 10,
          alloc(tree) >> 10);
    }
  }

  interface Work {
    Object run() throws Exception;
  }

  static volatile Object sink;

  /**
   * Nanoseconds per run of each, after a two-second warm-up of both: batches of the two alternate
   * (so that a change in the machine's load touches both alike), and each one's median batch counts.
   */
  static long[] time(Work... works) throws Exception {
    long deadline = System.nanoTime() + 2_000_000_000L;
    while (System.nanoTime() < deadline) for (Work w : works) sink = w.run();
    int rounds = 9;
    long[][] batches = new long[works.length][rounds];
    int[] n = new int[works.length];
    for (int k = 0; k < works.length; k++) {
      long probe = System.nanoTime();
      sink = works[k].run();
      n[k] = (int) Math.max(5, 150_000_000L / Math.max(1, System.nanoTime() - probe));
    }
    for (int r = 0; r < rounds; r++) {
      for (int k = 0; k < works.length; k++) {
        long s = System.nanoTime();
        for (int i = 0; i < n[k]; i++) sink = works[k].run();
        batches[k][r] = (System.nanoTime() - s) / n[k];
      }
    }
    long[] median = new long[works.length];
    for (int k = 0; k < works.length; k++) {
      java.util.Arrays.sort(batches[k]);
      median[k] = batches[k][rounds / 2];
    }
    return median;
  }

  static long alloc(Work w) throws Exception {
    com.sun.management.ThreadMXBean t =
        (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
    long before = t.getCurrentThreadAllocatedBytes();
    for (int i = 0; i < 10; i++) sink = w.run();
    return (t.getCurrentThreadAllocatedBytes() - before) / 10;
  }

  /** A chat body of about {@code bytes}: a system prompt and turns of ~600 characters. */
  static Buffer chat(int bytes) {
    StringBuilder b =
        new StringBuilder(bytes + 1024)
            .append("{\"model\":\"m\",\"max_tokens\":64,\"stream\":true,\"temperature\":0.7,")
            .append("\"messages\":[{\"role\":\"system\",\"content\":\"")
            .append("You are a helpful assistant. ".repeat(10))
            .append("\"}");
    int turn = 0;
    while (b.length() < bytes - 400) {
      b.append(",{\"role\":\"")
          .append(turn % 2 == 0 ? "user" : "assistant")
          .append("\",\"content\":\"turn ")
          .append(turn++)
          .append(": ")
          .append("the quick brown fox jumps over the lazy dog, ".repeat(13))
          .append("\"}");
    }
    return Buffer.buffer(b.append("]}").toString());
  }
}
