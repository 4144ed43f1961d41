package io.kvgate.gateway.proxy;

import static org.junit.jupiter.api.Assertions.*;

import io.vertx.core.buffer.Buffer;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** The usage scanner finds the same usage and events however the body is cut into chunks. */
class UsageScannerTest {

  static final String BODY =
      "{\"id\":\"x\",\"choices\":[{\"message\":{\"content\":\"say \\\"prompt_tokens\\\" 7\"}}],"
          + "\"usage\":{\"prompt_tokens\": 1234,\"completion_tokens\":56,"
          + "\"prompt_tokens_details\":{\"cached_tokens\":1024}}}";

  static UsageScanner scan(String body, int... cuts) {
    UsageScanner s = new UsageScanner();
    int from = 0;
    for (int cut : cuts) {
      s.feed(Buffer.buffer(body.substring(from, cut)));
      from = cut;
    }
    s.feed(Buffer.buffer(body.substring(from)));
    return s;
  }

  @Test
  void aBodyCutAnywhereInTwoOrThreeGivesItsUsage() {
    for (int a = 0; a <= BODY.length(); a++) {
      for (int b = a; b <= BODY.length(); b += 7) {
        UsageScanner s = scan(BODY, a, b);
        String where = "cut at " + a + ", " + b;
        assertEquals(1234, s.promptTokens(), where);
        assertEquals(56, s.reportedCompletionTokens(), where);
        assertEquals(56, s.completionTokens(), where);
        assertEquals(1024, s.cachedTokens(), where);
      }
    }
  }

  @Test
  void streamEventsAreCountedOnceWhateverTheChunks() {
    StringBuilder sb = new StringBuilder();
    for (int i = 0; i < 50; i++)
      sb.append("data: {\"choices\":[{\"delta\":{\"content\":\"t\"}}]}\n\n");
    sb.append("data: [DONE]\n\n");
    String stream = sb.toString();
    Random r = new Random(5);
    for (int trial = 0; trial < 200; trial++) {
      UsageScanner s = new UsageScanner();
      int from = 0;
      while (from < stream.length()) {
        int to = Math.min(stream.length(), from + 1 + r.nextInt(trial % 2 == 0 ? 9 : 120));
        s.feed(Buffer.buffer(stream.substring(from, to)));
        from = to;
      }
      assertEquals(50, s.completionTokens(), "trial " + trial);
      assertEquals(-1, s.reportedCompletionTokens());
      assertEquals(-1, s.cachedTokens());
    }
  }

  @Test
  void aVllmStreamWithUsageLastIsReadWhateverTheChunks() {
    // Underscores and braces everywhere (the scanner's anchors), events of every alignment.
    StringBuilder sb = new StringBuilder();
    for (int i = 0; i < 40; i++) {
      sb.append("data: {\"id\":\"chatcmpl_")
          .append(i)
          .append("\",\"object\":\"chat.completion.chunk\",\"system_fingerprint\":null,")
          .append("\"choices\":[{\"index\":0,\"delta\":{\"content\":\"")
          .append("{_x_}".repeat(i % 5))
          .append("\"},\"finish_reason\":null}]}\n\n");
    }
    String events = sb.toString();
    String usage =
        "data: {\"id\":\"u\",\"choices\":[],\"usage\":{\"prompt_tokens\":900,"
            + "\"total_tokens\":940,\"completion_tokens\":40,"
            + "\"prompt_tokens_details\":{\"cached_tokens\":768}}}\n\ndata: [DONE]\n\n";
    Random r = new Random(11);
    for (int trial = 0; trial < 300; trial++) {
      boolean withUsage = trial % 3 != 0;
      String stream = withUsage ? events + usage : events + "data: [DONE]\n\n";
      UsageScanner s = new UsageScanner();
      int from = 0;
      while (from < stream.length()) {
        int to = Math.min(stream.length(), from + 1 + r.nextInt(trial % 2 == 0 ? 13 : 400));
        s.feed(Buffer.buffer(stream.substring(from, to)));
        from = to;
      }
      String where = "trial " + trial;
      assertEquals(40, s.completionTokens(), where);
      assertEquals(withUsage ? 40 : -1, s.reportedCompletionTokens(), where);
      assertEquals(withUsage ? 900 : -1, s.promptTokens(), where);
      assertEquals(withUsage ? 768 : -1, s.cachedTokens(), where);
    }
  }

  @Test
  void aPrettyPrintedUsageIsReadAndTheLastValueOfAKeyWins() {
    // As an engine behind a JSON pretty-printer would send it; an earlier usage-like object in
    // the content (a tool result, say) is overridden by the real usage after it.
    String body =
        "{\n  \"choices\": [{\"message\": {\"tool\": {\"prompt_tokens\": 1,"
            + " \"completion_tokens\": 2}}}],\n  \"usage\": {\n    \"prompt_tokens\" :\n\t 4096,\n"
            + "    \"completion_tokens\": 17,\n    \"prompt_tokens_details\": {\"cached_tokens\": 2048}\n"
            + "  }\n}\n";
    for (int a = 0; a <= body.length(); a++) {
      UsageScanner s = scan(body, a);
      String where = "cut at " + a;
      assertEquals(4096, s.promptTokens(), where);
      assertEquals(17, s.reportedCompletionTokens(), where);
      assertEquals(2048, s.cachedTokens(), where);
    }
  }

  @Test
  void nothingFoundInABodyWithoutUsage() {
    UsageScanner s = scan("{\"error\":{\"message\":\"no\"}}", 5);
    assertEquals(-1, s.promptTokens());
    assertEquals(-1, s.cachedTokens());
    assertEquals(0, s.completionTokens());
  }
}
