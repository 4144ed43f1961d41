package io.kvgate.gateway.batch;

import io.vertx.core.buffer.Buffer;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.function.Consumer;

/**
 * An incremental decoder of a {@code text/event-stream} body that hands each event's data to a
 * consumer as the body arrives, in pieces split at any byte (inside a UTF-8 character or between
 * the CR and LF of a CRLF).
 *
 * <p>Follows the HTML Living Standard's event stream interpretation: lines end in LF, CR or CRLF; a
 * leading UTF-8 byte order mark is skipped; the {@code data} field's lines of one event are joined
 * with {@code "\n"}; one space after the field's colon is stripped; comment lines (starting with
 * {@code ':'}) and every other field ({@code event}, {@code id}, {@code retry}, unknown names) are
 * ignored; a blank line dispatches the event, and an event without a {@code data} line is not
 * dispatched. Unlike the standard, {@link #end} also dispatches a last event that the body did not
 * close with a blank line.
 *
 * <p>Memory is bounded: the decoder holds at most the current event's data and the current
 * unfinished line, and fails when together they exceed {@code maxEventBytes}. Bytes are decoded as
 * UTF-8 once per event (malformed sequences become U+FFFD). Not thread-safe: fed from one event
 * loop.
 */
public final class SseDecoder {

  private static final byte CR = '\r';
  private static final byte LF = '\n';

  private final Consumer<String> onData;
  private final int maxEventBytes;

  /** The current line's bytes, without its terminator. */
  private byte[] line = new byte[256];

  private int lineLen;

  /** The current event's data lines, joined with LF. */
  private byte[] data = new byte[256];

  private int dataLen;
  private boolean hasData;

  /** The last byte fed was a CR, so an LF first in the next piece ends no line. */
  private boolean afterCr;

  /** No line has ended yet: the first one may start with a byte order mark. */
  private boolean firstLine = true;

  private boolean failed;

  /**
   * @param onData receives each dispatched event's data, on the thread that feeds the decoder
   * @param maxEventBytes the most bytes the current event's data plus the line being read (field
   *     name included, terminator not) may take; {@code > 0}
   */
  public SseDecoder(Consumer<String> onData, int maxEventBytes) {
    if (maxEventBytes <= 0) throw new IllegalArgumentException("maxEventBytes must be > 0");
    this.onData = onData;
    this.maxEventBytes = maxEventBytes;
  }

  /** A decoder with a 16 MiB bound on an event. */
  public SseDecoder(Consumer<String> onData) {
    this(onData, 16 << 20);
  }

  /**
   * Decodes the next piece of the body, dispatching every event it completes.
   *
   * @throws IllegalStateException if an event grows past {@code maxEventBytes}; the decoder is then
   *     unusable and every later call throws too
   */
  public void feed(Buffer piece) {
    if (failed) throw new IllegalStateException("the event stream already failed");
    int len = piece.length();
    int start = 0;
    for (int i = 0; i < len; i++) {
      byte b = piece.getByte(i);
      if (b != CR && b != LF) continue;
      if (b == LF && afterCr && i == start && lineLen == 0) {
        // the LF of a CRLF whose CR ended the previous line
        afterCr = false;
        start = i + 1;
        continue;
      }
      append(piece, start, i);
      lineEnded();
      afterCr = b == CR;
      start = i + 1;
    }
    if (start < len) {
      afterCr = false;
      append(piece, start, len);
    }
  }

  /**
   * The body ended: decodes an unterminated last line and dispatches an event still open.
   *
   * @throws IllegalStateException if the decoder failed before
   */
  public void end() {
    if (failed) throw new IllegalStateException("the event stream already failed");
    if (lineLen > 0) lineEnded();
    dispatch();
    afterCr = false;
  }

  private void append(Buffer piece, int from, int to) {
    int n = to - from;
    if (n == 0) return;
    if ((long) lineLen + n + dataLen > maxEventBytes) fail();
    if (lineLen + n > line.length) {
      line = Arrays.copyOf(line, Math.min(Math.max(line.length * 2, lineLen + n), maxEventBytes));
    }
    piece.getBytes(from, to, line, lineLen);
    lineLen += n;
  }

  private void lineEnded() {
    int from = 0;
    if (firstLine) {
      firstLine = false;
      if (lineLen >= 3
          && line[0] == (byte) 0xEF
          && line[1] == (byte) 0xBB
          && line[2] == (byte) 0xBF) {
        from = 3;
      }
    }
    int n = lineLen;
    lineLen = 0;
    if (n == from) {
      dispatch();
      return;
    }
    if (line[from] == ':') return; // a comment
    int colon = from;
    while (colon < n && line[colon] != ':') colon++;
    if (colon - from != 4
        || line[from] != 'd'
        || line[from + 1] != 'a'
        || line[from + 2] != 't'
        || line[from + 3] != 'a') {
      return; // event, id, retry or an unknown field
    }
    int value = colon + 1;
    if (value < n && line[value] == ' ') value++;
    if (value > n) value = n; // "data" without a colon: an empty value
    int add = n - value + (hasData ? 1 : 0);
    if ((long) dataLen + add > maxEventBytes) fail();
    if (dataLen + add > data.length) {
      data = Arrays.copyOf(data, Math.min(Math.max(data.length * 2, dataLen + add), maxEventBytes));
    }
    if (hasData) data[dataLen++] = LF;
    System.arraycopy(line, value, data, dataLen, n - value);
    dataLen += n - value;
    hasData = true;
  }

  private void dispatch() {
    if (!hasData) return;
    String s = new String(data, 0, dataLen, StandardCharsets.UTF_8);
    hasData = false;
    dataLen = 0;
    onData.accept(s);
  }

  private void fail() {
    failed = true;
    lineLen = 0;
    dataLen = 0;
    hasData = false;
    throw new IllegalStateException("an event of the stream exceeds " + maxEventBytes + " bytes");
  }
}
