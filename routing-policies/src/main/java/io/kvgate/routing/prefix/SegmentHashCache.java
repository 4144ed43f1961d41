package io.kvgate.routing.prefix;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import java.util.concurrent.atomic.LongAdder;

/**
 * Remembers the hashing of long prompt segments so that text a gateway has seen before is
 * recognised instead of hashed again.
 *
 * <p>Why. Prefix caching pays off exactly because prompts repeat: every request of a tenant carries
 * the same system prompt and tool schemas, and every turn of a conversation resends all earlier
 * turns. Hashing is the only routing work proportional to prompt length (about 1.5 Gchar/s on one
 * core, so ~90 µs for a 32k-token prompt), while recognising a known segment costs one {@link
 * String#equals} (a vectorized comparison, an order of magnitude faster). So a segment (one
 * message's content, one prompt string) of at least {@link #MIN_CHARS} characters is hashed once
 * per gateway and replayed afterwards; the cache is semantically invisible: a chain built with it
 * is identical to one built without it, which the property tests check.
 *
 * <p>How. Hashing a segment is a pure function of the hasher's state before it (the parent hash and
 * the partial block in progress, {@link BlockHasher.Builder.State}) and the segment's text; it
 * yields the blocks it finishes and the state after it. The key is a 64-bit digest of the state
 * before, the text's length and 32 sampled characters (O(1), no pass over the text); an entry keeps
 * the text itself, and a hit is accepted only if both the state and the text are equal, so a digest
 * collision costs a re-hash, never a wrong chain. Bounded by approximate retained bytes (text plus
 * hashes) in a Caffeine cache with W-TinyLFU admission, so one-off documents do not flush the hot
 * system prompts.
 *
 * <p>Cost of a hit: the state snapshot, one cache lookup, one {@code equals} over the text, and an
 * array copy of the segment's hashes. A miss adds the lookup and an insert to the normal hashing.
 * Thread-safe; shared by all event loops.
 */
public final class SegmentHashCache {

  /** Segments shorter than this are hashed directly: cheaper than a lookup. */
  public static final int MIN_CHARS = 512;

  private static final int SAMPLES = 32;

  private record Entry(
      String head,
      String text,
      String tail,
      BlockHasher.Builder.State before,
      BlockHasher.Builder.State after,
      long[] finished) {}

  private final Cache<Long, Entry> cache;
  private final LongAdder hits = new LongAdder();
  private final LongAdder misses = new LongAdder();
  private final LongAdder hitChars = new LongAdder();

  /**
   * @param maxBytes approximate bound on retained text and hashes; must be positive
   */
  public SegmentHashCache(long maxBytes) {
    if (maxBytes <= 0)
      throw new IllegalArgumentException("maxBytes must be positive (got " + maxBytes + ")");
    this.cache =
        Caffeine.newBuilder()
            .maximumWeight(maxBytes)
            .weigher(
                (Long k, Entry e) ->
                    (int)
                        Math.min(
                            Integer.MAX_VALUE,
                            128L + 2L * e.text().length() + 8L * e.finished().length))
            .executor(Runnable::run)
            .build();
  }

  /** Appends {@code text} to {@code b}, exactly as {@code b.append(text)} would. */
  public void append(BlockHasher.Builder b, String text) {
    append(b, "", text, "");
  }

  /**
   * Appends {@code head}, {@code text} and {@code tail} to {@code b}, exactly as three appends
   * would, remembered as one segment: a chat message is its template head ({@code
   * <|im_start|>role\n}), its content and its template tail, and short template strings cost more
   * per character to hash than a long text.
   */
  public void append(BlockHasher.Builder b, String head, String text, String tail) {
    int n = text.length();
    if (n < MIN_CHARS) {
      b.append(head).append(text).append(tail);
      return;
    }
    BlockHasher.Builder.State before = b.state();
    Long key = key(before, head, text, tail);
    Entry e = cache.getIfPresent(key);
    if (e != null
        && e.before().equals(before)
        && e.text().equals(text)
        && e.head().equals(head)
        && e.tail().equals(tail)) {
      b.skip((long) head.length() + n + tail.length(), e.finished(), e.after());
      hits.increment();
      hitChars.add(n);
      return;
    }
    int from = b.blocks();
    b.append(head).append(text).append(tail);
    misses.increment();
    cache.put(key, new Entry(head, text, tail, before, b.state(), b.hashesFrom(from)));
  }

  /** Segments replayed from the cache. */
  public long hits() {
    return hits.sum();
  }

  /** Segments of at least {@link #MIN_CHARS} that had to be hashed. */
  public long misses() {
    return misses.sum();
  }

  /** Characters not hashed thanks to the cache. */
  public long hitChars() {
    return hitChars.sum();
  }

  /** Approximate bytes retained (the cache's weight). */
  public long retainedBytes() {
    return cache.policy().eviction().map(ev -> ev.weightedSize().orElse(0L)).orElse(0L);
  }

  private static Long key(BlockHasher.Builder.State before, String head, String text, String tail) {
    int n = text.length();
    long h =
        before.digest() ^ (n * BlockHasher.P1) ^ head.hashCode() * BlockHasher.P3 ^ tail.hashCode();
    int stride = (n - 1) / (SAMPLES - 1);
    for (int k = 0, at = 0; k < SAMPLES; k++, at += stride)
      h = (h ^ text.charAt(at)) * BlockHasher.P2;
    return BlockHasher.avalanche(h ^ text.charAt(n - 1));
  }
}
