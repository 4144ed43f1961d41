package io.kvgate.gateway.batch;

import static org.junit.jupiter.api.Assertions.*;

import io.vertx.core.buffer.Buffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

class SseDecoderTest {

  /** Every line ending, multi-byte UTF-8 (2, 3 and 4 bytes), a BOM, comments and other fields. */
  private static final String STREAM =
      "\uFEFF: a comment first\r\n"
          + "id: 1\r\n"
          + "event: message\r\n"
          + "data: {\"a\":\"h\u00e9llo\"}\r\n"
          + "\r\n"
          + "retry: 1000\n"
          + "data:\u65e5\u672c\u8a9e\n"
          + "data:  two spaces\r"
          + "data\r\n"
          + "\n"
          + ":keep-alive\r\r"
          + "id: only an id\n\n"
          + "event: nothing\r\n\r\n"
          + "data: \ud83d\ude00 emoji\r"
          + "\r"
          + "dat: not data\n"
          + "data: multi\r\n"
          + "data: line\r\n"
          + "\r\n"
          + "data: last\n"
          + "\n"
          + "data: unterminated";

  private static final List<String> EVENTS =
      List.of(
          "{\"a\":\"h\u00e9llo\"}",
          "\u65e5\u672c\u8a9e\n two spaces\n",
          "\ud83d\ude00 emoji",
          "multi\nline",
          "last",
          "unterminated");

  private static List<String> decode(int max, byte[]... pieces) {
    List<String> out = new ArrayList<>();
    SseDecoder d = new SseDecoder(out::add, max);
    for (byte[] p : pieces) d.feed(Buffer.buffer(p));
    d.end();
    return out;
  }

  @Test
  void decodesEveryFieldAndLineEnding() {
    assertEquals(EVENTS, decode(1024, STREAM.getBytes(StandardCharsets.UTF_8)));
  }

  @Test
  void everySplitPositionGivesTheSameEvents() {
    byte[] all = STREAM.getBytes(StandardCharsets.UTF_8);
    int n = all.length;
    for (int i = 0; i <= n; i++) {
      byte[] a = Arrays.copyOfRange(all, 0, i);
      byte[] b = Arrays.copyOfRange(all, i, n);
      assertEquals(EVENTS, decode(1024, a, b), "split at " + i);
      for (int j = i; j <= n; j++) {
        List<String> three =
            decode(
                1024,
                Arrays.copyOfRange(all, 0, i),
                Arrays.copyOfRange(all, i, j),
                Arrays.copyOfRange(all, j, n));
        assertEquals(EVENTS, three, "split at " + i + " and " + j);
      }
    }
    byte[][] bytes = new byte[n][];
    for (int i = 0; i < n; i++) bytes[i] = new byte[] {all[i]};
    assertEquals(EVENTS, decode(1024, bytes), "one byte at a time");
  }

  @Test
  void dispatchesAtTheBlankLineNotBefore() {
    List<String> out = new ArrayList<>();
    SseDecoder d = new SseDecoder(out::add, 1024);
    d.feed(Buffer.buffer("data: one\r"));
    d.feed(Buffer.buffer("\ndata: two\n"));
    assertEquals(List.of(), out, "the LF of a split CRLF is no blank line");
    d.feed(Buffer.buffer("\r"));
    assertEquals(List.of("one\ntwo"), out);
    d.feed(Buffer.buffer("\ndata: three\r\n\r\n"));
    assertEquals(List.of("one\ntwo", "three"), out);
  }

  @Test
  void commentsIdsAndEventsWithoutDataAreNotDispatched() {
    String s = ": hi\n\nid: 7\nevent: ping\nretry: 5\n\n:\n:\n\nevent: x\n";
    assertEquals(List.of(), decode(1024, s.getBytes(StandardCharsets.UTF_8)));
    assertEquals(
        List.of("", ""),
        decode(1024, "data:\n\ndata\n\n".getBytes(StandardCharsets.UTF_8)),
        "an empty data line is an event with empty data");
  }

  @Test
  void joinsMultiLineDataWithLf() {
    String s = "data: {\r\ndata:   \"a\": 1\rdata: }\n\n";
    assertEquals(List.of("{\n  \"a\": 1\n}"), decode(1024, s.getBytes(StandardCharsets.UTF_8)));
  }

  @Test
  void endWithoutAnOpenEventDispatchesNothing() {
    assertEquals(List.of("a"), decode(1024, "data: a\n\n".getBytes(StandardCharsets.UTF_8)));
    assertEquals(List.of("a"), decode(1024, "data: a\n".getBytes(StandardCharsets.UTF_8)));
    assertEquals(List.of(), decode(1024, "id: 1".getBytes(StandardCharsets.UTF_8)));
    assertEquals(List.of(), decode(1024));
  }

  @Test
  void anEventOverTheBoundFailsTheFeed() {
    // the bound counts the event's data so far plus the line being read, field name included
    assertEquals(
        List.of("0123456789"), decode(16, "data: 0123456789\n\n".getBytes(StandardCharsets.UTF_8)));
    assertThrows(
        IllegalStateException.class,
        () -> decode(16, "data: 0123456789A\n\n".getBytes(StandardCharsets.UTF_8)));
    List<String> out = new ArrayList<>();
    SseDecoder d = new SseDecoder(out::add, 16);
    d.feed(Buffer.buffer("data: 01234\n"));
    d.feed(Buffer.buffer("data: 56789\n"));
    IllegalStateException e =
        assertThrows(IllegalStateException.class, () -> d.feed(Buffer.buffer("data: x\n\n")));
    assertTrue(e.getMessage().contains("16 bytes"), e.getMessage());
    assertEquals(List.of(), out);
    assertThrows(IllegalStateException.class, () -> d.feed(Buffer.buffer("data: x\n\n")));
    assertThrows(IllegalStateException.class, d::end);

    // a line that never ends is bounded too, even split into small pieces
    SseDecoder endless = new SseDecoder(out::add, 64);
    assertThrows(
        IllegalStateException.class,
        () -> {
          for (int i = 0; i < 100; i++) endless.feed(Buffer.buffer("xxxx"));
        });
  }

  @Test
  void manySmallEventsAndCommentsStayUnderTheBound() {
    List<String> out = new ArrayList<>();
    SseDecoder d = new SseDecoder(out::add, 16);
    for (int i = 0; i < 1000; i++) d.feed(Buffer.buffer(": keep-alive\ndata: " + i + "\n\n"));
    d.end();
    assertEquals(1000, out.size());
    assertEquals("999", out.get(999));
  }
}
