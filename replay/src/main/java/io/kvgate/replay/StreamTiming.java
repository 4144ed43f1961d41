package io.kvgate.replay;

import java.util.Arrays;

/**
 * What one client saw of one streamed response: when each content event arrived. Fed the response's
 * chunks as they arrive with their arrival time; splits them into SSE events (an event may span
 * chunks, a chunk may hold several events) and times the events that carry generated text ({@link
 * Replay#hasText}). Events that arrive in the same chunk share its arrival time, so their gaps are
 * 0: what the client saw. Not thread-safe.
 */
final class StreamTiming {

  private final StringBuilder pending = new StringBuilder();
  private long firstContentNanos = -1;
  private long lastContentNanos = -1;
  private int contentEvents;
  private long[] gaps = new long[8];
  private int gapCount;

  /** Consumes one chunk of the body, arrived at {@code nanos}. */
  void onChunk(CharSequence chunk, long nanos) {
    pending.append(chunk);
    int from = 0;
    while (true) {
      int end = eventEnd(pending, from);
      if (end < 0) break;
      if (Replay.hasText(pending.substring(from, end))) onContent(nanos);
      from = end;
    }
    if (from > 0) pending.delete(0, from);
  }

  /**
   * The index just past the blank line ending the event that starts at {@code from}, or -1 if the
   * event is incomplete.
   */
  private static int eventEnd(CharSequence s, int from) {
    for (int i = from; i + 1 < s.length(); i++) {
      if (s.charAt(i) != '\n') continue;
      if (s.charAt(i + 1) == '\n') return i + 2;
      if (s.charAt(i + 1) == '\r' && i + 2 < s.length() && s.charAt(i + 2) == '\n') return i + 3;
    }
    return -1;
  }

  private void onContent(long nanos) {
    contentEvents++;
    if (firstContentNanos < 0) {
      firstContentNanos = nanos;
    } else {
      if (gapCount == gaps.length) gaps = Arrays.copyOf(gaps, gapCount * 2);
      gaps[gapCount++] = nanos - lastContentNanos;
    }
    lastContentNanos = nanos;
  }

  /** Arrival time of the first content event, or -1. */
  long firstContentNanos() {
    return firstContentNanos;
  }

  /** Content events seen. */
  int contentEvents() {
    return contentEvents;
  }

  /** The gaps between consecutive content events (wall nanoseconds), in arrival order. */
  long[] gaps() {
    return Arrays.copyOf(gaps, gapCount);
  }

  int gapCount() {
    return gapCount;
  }
}
