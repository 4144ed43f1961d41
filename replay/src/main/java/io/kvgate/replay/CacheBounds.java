package io.kvgate.replay;

import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The two references every policy's hit rate is read against, computed from the trace alone in the
 * engines' own units (blocks of {@code blockSizeTokens}; each 512-token trace id is {@code 512 /
 * blockSizeTokens} engine blocks, fewer for a partial last id) and with vLLM's accounting (only
 * full blocks are cached, and at least one prompt token is always recomputed):
 *
 * <ul>
 *   <li>the infinite-cache oracle: every block ever seen stays cached, one shared cache;
 *   <li>the pooled-cache bound: one LRU cache as large as the whole fleet's ({@code replicas ×
 *       capacityBlocks}); a request's matched chain and its new blocks are touched tail first, so a
 *       prefix's head is evicted last, as vLLM frees a request's blocks in reverse order.
 * </ul>
 *
 * Both are token hit rates: cached prompt tokens over prompt tokens.
 */
public final class CacheBounds {

  private CacheBounds() {}

  /** The engine-block keys of a record's full blocks, in prompt order. */
  static long[] keys(TraceRecord r, int blockSizeTokens) {
    int perId = TraceRecord.TRACE_BLOCK_TOKENS / blockSizeTokens;
    int n = r.hashIds().length;
    int lastTokens = r.inputLength() - TraceRecord.TRACE_BLOCK_TOKENS * (n - 1);
    int lastBlocks = Math.min(perId, lastTokens / blockSizeTokens);
    long[] keys = new long[n == 0 ? 0 : (n - 1) * perId + lastBlocks];
    int k = 0;
    for (int i = 0; i < n; i++) {
      int blocks = i == n - 1 ? lastBlocks : perId;
      for (int j = 0; j < blocks; j++) keys[k++] = r.hashIds()[i] * 1024 + j;
    }
    return keys;
  }

  /** Tokens an engine reports cached for {@code matchedBlocks} leading blocks of a prompt. */
  static long cachedTokens(int matchedBlocks, int inputLength, int blockSizeTokens) {
    long maxCacheable = (long) ((inputLength - 1) / blockSizeTokens) * blockSizeTokens;
    return Math.max(0, Math.min((long) matchedBlocks * blockSizeTokens, maxCacheable));
  }

  /**
   * Distinct engine blocks (full blocks only) over the trace: what an infinite cache ends up
   * holding.
   */
  public static long distinctBlocks(List<TraceRecord> trace, int blockSizeTokens) {
    Set<Long> seen = new HashSet<>();
    for (TraceRecord r : trace) for (long k : keys(r, blockSizeTokens)) seen.add(k);
    return seen.size();
  }

  /** Token hit rate with one infinite cache. */
  public static double oracle(List<TraceRecord> trace, int blockSizeTokens) {
    Set<Long> seen = new HashSet<>();
    long hit = 0;
    long total = 0;
    for (TraceRecord r : trace) {
      long[] keys = keys(r, blockSizeTokens);
      int m = 0;
      while (m < keys.length && seen.contains(keys[m])) m++;
      hit += cachedTokens(m, r.inputLength(), blockSizeTokens);
      total += r.inputLength();
      for (long k : keys) seen.add(k);
    }
    return total == 0 ? 0 : (double) hit / total;
  }

  /** Token hit rate with one LRU cache of {@code capacityBlocks} blocks. */
  public static double pooledLru(
      List<TraceRecord> trace, int blockSizeTokens, long capacityBlocks) {
    return hitRate(trace, pooledLruUncached(trace, blockSizeTokens, capacityBlocks));
  }

  /** Token hit rate of a trace given each request's uncached prompt tokens. */
  public static double hitRate(List<TraceRecord> trace, long[] uncached) {
    long hit = 0;
    long total = 0;
    for (int i = 0; i < uncached.length; i++) {
      hit += trace.get(i).inputLength() - uncached[i];
      total += trace.get(i).inputLength();
    }
    return total == 0 ? 0 : (double) hit / total;
  }

  /**
   * The TTFT floor at a quantile: the time an idle engine prefilling {@code prefillTokensPerSecond}
   * needs for each request's {@code uncached} tokens, at quantile {@code q}. With the pooled
   * cache's misses ({@link #pooledLruUncached}) no router over the fleet's caches does better at
   * that quantile except by luck of timing (each request alone, on an idle engine, with the pooled
   * hit), so a policy's TTFT p99 is read against it as its hit rate is read against the pooled
   * bound.
   */
  public static double ttftFloorMs(long[] uncached, double prefillTokensPerSecond, double q) {
    double[] ms =
        java.util.Arrays.stream(uncached)
            .mapToDouble(t -> t / prefillTokensPerSecond * 1000)
            .sorted()
            .toArray();
    return Replay.pct(ms, q);
  }

  /**
   * Per request, the prompt tokens one LRU cache of {@code capacityBlocks} blocks does not hold.
   */
  public static long[] pooledLruUncached(
      List<TraceRecord> trace, int blockSizeTokens, long capacityBlocks) {
    LinkedHashMap<Long, Boolean> lru =
        new LinkedHashMap<>(1 << 16, 0.75f, true) {
          @Override
          protected boolean removeEldestEntry(Map.Entry<Long, Boolean> eldest) {
            return size() > capacityBlocks;
          }
        };
    long[] uncached = new long[trace.size()];
    for (int t = 0; t < uncached.length; t++) {
      TraceRecord r = trace.get(t);
      long[] keys = keys(r, blockSizeTokens);
      int m = 0;
      while (m < keys.length && lru.containsKey(keys[m])) m++;
      uncached[t] = r.inputLength() - cachedTokens(m, r.inputLength(), blockSizeTokens);
      for (int i = keys.length - 1; i >= 0; i--) {
        if (lru.get(keys[i]) == null) lru.put(keys[i], Boolean.TRUE);
      }
    }
    return uncached;
  }
}
