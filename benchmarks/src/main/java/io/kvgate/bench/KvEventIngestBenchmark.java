package io.kvgate.bench;

import io.kvgate.routing.prefix.BlockChain;
import io.kvgate.routing.prefix.LruPrefixIndex;
import io.kvgate.routing.prefix.PrefixMatch;
import java.util.Arrays;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;

/**
 * The precise feed of {@link LruPrefixIndex}: engine KV events applied on one thread, so the
 * inverse of a result is events per second per core.
 *
 * <ul>
 *   <li>{@code blockStored}: a {@code BlockStored} of {@code eventBlocks} new blocks (a request's
 *       new blocks after a shared prefix) on an endpoint at capacity, so the index also evicts as
 *       many from its LRU tail. {@code recordRouted} teaches the same number of new blocks through
 *       the approximate feed, for the ratio.
 *   <li>{@code storedThenRemoved}: the steady state of an engine at capacity that reports its own
 *       evictions: one {@code BlockStored} of {@code eventBlocks} new blocks, then one {@code
 *       BlockRemoved} of the blocks stored 1,000 events earlier (two events per operation; the
 *       index's capacity sits above the engine's, so only the events remove blocks).
 *   <li>{@code stored100k} / {@code recordRouted100k}: one 100,000-block write on an endpoint at
 *       its 100,000-block capacity (100,000 inserted, as many evicted), in slices of 4,096.
 *   <li>{@code snapshot1M}: a 1M-block snapshot replacing the previous one: {@code clearEndpoint}
 *       of 1M blocks, then 100 {@code blocksStored} chunks of 10,000.
 *   <li>{@code matchGalloping} / {@code matchWalked}: the match cost of the guarantee. The same
 *       content (16 endpoints, 65,536 blocks each, a 64-block system prompt everywhere) written by
 *       routing (prefix-closed, galloped) or by events (unordered, walked); the request matches
 *       1,536 of its 2,048 blocks on one endpoint.
 * </ul>
 *
 * New hashes are generated in place per operation (a multiply per block, included).
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
public class KvEventIngestBenchmark {

  private static final long NOW = 1_000_000_000_000L;
  private static final int ENDPOINTS = 16;
  private static final int CAPACITY = 65_536;

  /** Writes new hashes into {@code h} (never 0, distinct across calls). */
  static long next(long[] h, long seed) {
    for (int i = 0; i < h.length; i++) h[i] = (seed++ | 1L << 62) * 0x9E3779B97F4A7C15L;
    return seed;
  }

  /** An index of {@link #ENDPOINTS} endpoints filled to capacity with 2,048-block conversations. */
  static LruPrefixIndex filled(boolean precise, long capacity) {
    LruPrefixIndex index =
        new LruPrefixIndex(LruPrefixIndex.Settings.defaults().withDefaultCapacityBlocks(capacity));
    SplittableRandom random = new SplittableRandom(42);
    long[] system = Prompts.randomHashes(64, random);
    for (int slot = 0; slot < ENDPOINTS; slot++) {
      if (precise) index.setExpires(slot, false);
      while (index.heldBlocks(slot) + 2048 <= Math.min(capacity, CAPACITY)) {
        long[] h = Prompts.concat(system, Prompts.randomHashes(2048 - 64, random));
        if (precise) index.blocksStored(slot, h, 0, h.length, NOW);
        else index.recordRouted(slot, Prompts.chain(h), NOW);
      }
    }
    return index;
  }

  @State(Scope.Benchmark)
  public static class Events {
    @Param({"16", "64"})
    public int eventBlocks;

    LruPrefixIndex index;
    long[] fresh;
    BlockChain freshChain;
    long seed = 1;
    long[][] ring;
    int ringAt;

    @Setup(Level.Trial)
    public void fill() {
      // Slot 1's capacity sits above what its engine holds (the index never evicts there); slots 0
      // and 2 are full at 63,488.
      index = filled(true, CAPACITY + 4096);
      index.setCapacityBlocks(0, CAPACITY - 2048);
      index.setCapacityBlocks(2, CAPACITY - 2048);
      index.setCapacityBlocks(1, CAPACITY + 1000L * eventBlocks + 4096);
      fresh = new long[eventBlocks];
      freshChain = Prompts.chain(fresh);
      ring = new long[1000][];
      for (int i = 0; i < ring.length; i++) {
        ring[i] = new long[eventBlocks];
        seed = next(ring[i], seed);
        index.blocksStored(1, ring[i], 0, eventBlocks, NOW);
      }
    }
  }

  @Benchmark
  public void blockStored(Events e) {
    e.seed = next(e.fresh, e.seed);
    e.index.blocksStored(0, e.fresh, 0, e.fresh.length, NOW);
  }

  @Benchmark
  public void recordRouted(Events e) {
    e.seed = next(e.fresh, e.seed);
    e.index.recordRouted(2, e.freshChain, NOW);
  }

  @Benchmark
  public void storedThenRemoved(Events e) {
    long[] slot = e.ring[e.ringAt];
    e.index.blocksRemoved(1, slot, 0, slot.length);
    e.seed = next(slot, e.seed);
    e.index.blocksStored(1, slot, 0, slot.length, NOW);
    e.ringAt = (e.ringAt + 1) % e.ring.length;
  }

  @State(Scope.Benchmark)
  public static class Large {
    LruPrefixIndex index;
    long[] block = new long[100_000];
    BlockChain chain = Prompts.chain(block);
    long[] snapshot = new long[1_000_000];
    long seed = 1L << 40;

    @Setup(Level.Trial)
    public void fill() {
      index =
          new LruPrefixIndex(LruPrefixIndex.Settings.defaults().withDefaultCapacityBlocks(100_000));
      index.setExpires(0, false);
      seed = next(block, seed);
      index.blocksStored(0, block, 0, block.length, NOW);
      index.recordRouted(1, chain, NOW);
      index.setCapacityBlocks(2, 2_000_000);
      index.setExpires(2, false);
      seed = next(snapshot, seed);
      index.blocksStored(2, snapshot, 0, snapshot.length, NOW);
    }
  }

  @Benchmark
  public void stored100k(Large l) {
    l.seed = next(l.block, l.seed);
    l.index.blocksStored(0, l.block, 0, l.block.length, NOW);
  }

  @Benchmark
  public void recordRouted100k(Large l) {
    l.seed = next(l.block, l.seed);
    l.index.recordRouted(1, l.chain, NOW);
  }

  @Benchmark
  public long snapshot1M(Large l) {
    long cleared = l.index.clearEndpoint(2);
    for (int from = 0; from < l.snapshot.length; from += 10_000) {
      l.index.blocksStored(2, l.snapshot, from, from + 10_000, NOW);
    }
    return cleared;
  }

  @State(Scope.Benchmark)
  public static class Match {
    LruPrefixIndex routed;
    LruPrefixIndex precise;
    BlockChain hit;

    @Setup(Level.Trial)
    public void fill() {
      routed = filled(false, CAPACITY);
      precise = filled(true, CAPACITY);
      SplittableRandom random = new SplittableRandom(7);
      long[] system = Prompts.randomHashes(64, random);
      long[] conversation = Prompts.concat(system, Prompts.randomHashes(1536 - 64, random));
      routed.setCapacityBlocks(ENDPOINTS - 1, CAPACITY + 2048);
      precise.setCapacityBlocks(ENDPOINTS - 1, CAPACITY + 2048);
      routed.recordRouted(ENDPOINTS - 1, Prompts.chain(conversation), NOW);
      precise.blocksStored(ENDPOINTS - 1, conversation, 0, conversation.length, NOW);
      for (int slot = 0; slot < ENDPOINTS - 1; slot++) {
        routed.recordRouted(slot, Prompts.chain(system), NOW);
        precise.blocksStored(slot, system, 0, system.length, NOW);
      }
      hit =
          Prompts.chain(
              Prompts.concat(Arrays.copyOf(conversation, 1536), Prompts.randomHashes(512, random)));
      for (LruPrefixIndex index : new LruPrefixIndex[] {routed, precise}) {
        PrefixMatch m = index.match(hit, NOW);
        if (m.matched(ENDPOINTS - 1) != 1536 || m.matched(0) != 64) {
          throw new IllegalStateException(
              "unintended fill: " + m.matched(ENDPOINTS - 1) + " / " + m.matched(0));
        }
      }
    }
  }

  @Benchmark
  public PrefixMatch matchGalloping(Match m) {
    return m.routed.match(m.hit, NOW);
  }

  @Benchmark
  public PrefixMatch matchWalked(Match m) {
    return m.precise.match(m.hit, NOW);
  }
}
