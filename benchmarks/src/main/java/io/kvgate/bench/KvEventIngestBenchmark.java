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
 *       many from its LRU tail, with the parent of its first block: the last block of the previous
 *       event (a conversation growing turn by turn). {@code blockStoredNoParent} stores the same
 *       without parents (every block a hole), {@code recordRouted} teaches the same number of new
 *       blocks through the approximate feed, for the ratios.
 *   <li>{@code storedThenRemoved}: the steady state of an engine at capacity that reports its own
 *       evictions: one {@code BlockStored} of {@code eventBlocks} new blocks (a new prompt: no
 *       parent), then one {@code BlockRemoved} of the blocks stored 1,000 events earlier, leaf
 *       first (two events per operation; the index's capacity sits above the engine's, so only the
 *       events remove blocks).
 *   <li>{@code stored100k} / {@code recordRouted100k}: one 100,000-block write on an endpoint at
 *       its 100,000-block capacity (100,000 inserted, as many evicted), in slices of 4,096.
 *   <li>{@code snapshot1M}: a 1M-block snapshot replacing the previous one: {@code clearEndpoint}
 *       of 1M blocks, then 100 {@code snapshotStored} chunks of 10,000 with their parents.
 *   <li>{@code matchGalloping} / {@code matchEventsNoHoles} / {@code matchWalked}: the match cost
 *       of the guarantee. The same content (16 endpoints, 65,536 blocks each, a 64-block system
 *       prompt everywhere) written by routing (prefix-closed, galloped), by events with their
 *       parents (no holes, galloped) or by events without parents (every block a hole, walked); the
 *       request matches 1,536 of its 2,048 blocks on one endpoint.
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

  /** Who writes an index: routing, events with their parents, or events without. */
  enum Feed {
    ROUTED,
    EVENTS,
    EVENTS_NO_PARENTS;

    void write(LruPrefixIndex index, int slot, long[] h) {
      switch (this) {
        case ROUTED -> index.recordRouted(slot, Prompts.chain(h), NOW);
        case EVENTS -> index.blocksStored(slot, h, 0, h.length, 0, false, NOW);
        case EVENTS_NO_PARENTS -> index.blocksStored(slot, h, 0, h.length, NOW);
      }
    }
  }

  /** An index of {@link #ENDPOINTS} endpoints filled to capacity with 2,048-block conversations. */
  static LruPrefixIndex filled(Feed feed, long capacity) {
    LruPrefixIndex index =
        new LruPrefixIndex(LruPrefixIndex.Settings.defaults().withDefaultCapacityBlocks(capacity));
    SplittableRandom random = new SplittableRandom(42);
    long[] system = Prompts.randomHashes(64, random);
    for (int slot = 0; slot < ENDPOINTS; slot++) {
      if (feed != Feed.ROUTED) index.setExpires(slot, false);
      while (index.heldBlocks(slot) + 2048 <= Math.min(capacity, CAPACITY)) {
        feed.write(index, slot, Prompts.concat(system, Prompts.randomHashes(2048 - 64, random)));
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
    long[][] leafFirst;
    int ringAt;
    long parent;

    @Setup(Level.Trial)
    public void fill() {
      // Slot 1's capacity sits above what its engine holds (the index never evicts there); slots 0,
      // 2 and 3 are full at 63,488.
      index = filled(Feed.EVENTS, CAPACITY + 4096);
      index.setCapacityBlocks(0, CAPACITY - 2048);
      index.setCapacityBlocks(2, CAPACITY - 2048);
      index.setCapacityBlocks(3, CAPACITY - 2048);
      index.setCapacityBlocks(1, CAPACITY + 1000L * eventBlocks + 4096);
      fresh = new long[eventBlocks];
      freshChain = Prompts.chain(fresh);
      ring = new long[1000][];
      leafFirst = new long[1000][];
      for (int i = 0; i < ring.length; i++) {
        ring[i] = new long[eventBlocks];
        leafFirst[i] = new long[eventBlocks];
        seed = next(ring[i], seed);
        index.blocksStored(1, ring[i], 0, eventBlocks, 0, false, NOW);
      }
      parent = index.blocksMostRecentFirst(0)[0];
    }
  }

  @Benchmark
  public void blockStored(Events e) {
    e.seed = next(e.fresh, e.seed);
    e.index.blocksStored(0, e.fresh, 0, e.fresh.length, e.parent, true, NOW);
    e.parent = e.fresh[e.fresh.length - 1];
  }

  @Benchmark
  public void blockStoredNoParent(Events e) {
    e.seed = next(e.fresh, e.seed);
    e.index.blocksStored(3, e.fresh, 0, e.fresh.length, NOW);
  }

  @Benchmark
  public void recordRouted(Events e) {
    e.seed = next(e.fresh, e.seed);
    e.index.recordRouted(2, e.freshChain, NOW);
  }

  @Benchmark
  public void storedThenRemoved(Events e) {
    long[] slot = e.ring[e.ringAt];
    long[] leafFirst = e.leafFirst[e.ringAt];
    for (int i = 0; i < slot.length; i++) leafFirst[i] = slot[slot.length - 1 - i];
    e.index.blocksRemoved(1, leafFirst, 0, leafFirst.length);
    e.seed = next(slot, e.seed);
    e.index.blocksStored(1, slot, 0, slot.length, 0, false, NOW);
    e.ringAt = (e.ringAt + 1) % e.ring.length;
  }

  @State(Scope.Benchmark)
  public static class Large {
    LruPrefixIndex index;
    long[] block = new long[100_000];
    BlockChain chain = Prompts.chain(block);
    long[] snapshot = new long[1_000_000];
    long[] parents = new long[1_000_000];
    long seed = 1L << 40;

    @Setup(Level.Trial)
    public void fill() {
      index =
          new LruPrefixIndex(LruPrefixIndex.Settings.defaults().withDefaultCapacityBlocks(100_000));
      index.setExpires(0, false);
      seed = next(block, seed);
      index.blocksStored(0, block, 0, block.length, 0, false, NOW);
      index.recordRouted(1, chain, NOW);
      index.setCapacityBlocks(2, 2_000_000);
      index.setExpires(2, false);
      seed = next(snapshot, seed);
      // 500 chains of 2,000 blocks
      for (int i = 0; i < snapshot.length; i++) {
        parents[i] = i % 2000 == 0 ? LruPrefixIndex.ROOT : snapshot[i - 1];
      }
      index.snapshotStored(2, snapshot, parents, 0, snapshot.length, NOW);
    }
  }

  @Benchmark
  public void stored100k(Large l) {
    l.seed = next(l.block, l.seed);
    l.index.blocksStored(0, l.block, 0, l.block.length, 0, false, NOW);
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
      l.index.snapshotStored(2, l.snapshot, l.parents, from, from + 10_000, NOW);
    }
    return cleared;
  }

  @State(Scope.Benchmark)
  public static class Match {
    LruPrefixIndex routed;
    LruPrefixIndex precise;
    LruPrefixIndex holey;
    BlockChain hit;

    @Setup(Level.Trial)
    public void fill() {
      routed = filled(Feed.ROUTED, CAPACITY);
      precise = filled(Feed.EVENTS, CAPACITY);
      holey = filled(Feed.EVENTS_NO_PARENTS, CAPACITY);
      SplittableRandom random = new SplittableRandom(7);
      long[] system = Prompts.randomHashes(64, random);
      long[] conversation = Prompts.concat(system, Prompts.randomHashes(1536 - 64, random));
      Feed[] feeds = {Feed.ROUTED, Feed.EVENTS, Feed.EVENTS_NO_PARENTS};
      LruPrefixIndex[] indexes = {routed, precise, holey};
      for (int k = 0; k < indexes.length; k++) {
        LruPrefixIndex index = indexes[k];
        index.setCapacityBlocks(ENDPOINTS - 1, CAPACITY + 2048);
        feeds[k].write(index, ENDPOINTS - 1, conversation);
        for (int slot = 0; slot < ENDPOINTS - 1; slot++) feeds[k].write(index, slot, system);
      }
      hit =
          Prompts.chain(
              Prompts.concat(Arrays.copyOf(conversation, 1536), Prompts.randomHashes(512, random)));
      for (int k = 0; k < indexes.length; k++) {
        PrefixMatch m = indexes[k].match(hit, NOW);
        long holes = indexes[k].holes(ENDPOINTS - 1);
        if (m.matched(ENDPOINTS - 1) != 1536
            || m.matched(0) != 64
            || (holes == 0) != (feeds[k] != Feed.EVENTS_NO_PARENTS)) {
          throw new IllegalStateException(
              "unintended fill: "
                  + m.matched(ENDPOINTS - 1)
                  + " / "
                  + m.matched(0)
                  + ", holes "
                  + holes);
        }
      }
    }
  }

  /** Written by routing: galloped. */
  @Benchmark
  public PrefixMatch matchGalloping(Match m) {
    return m.routed.match(m.hit, NOW);
  }

  /** Written by events with their parents: no holes, galloped. */
  @Benchmark
  public PrefixMatch matchEventsNoHoles(Match m) {
    return m.precise.match(m.hit, NOW);
  }

  /** Written by events without parents: every block a hole, walked. */
  @Benchmark
  public PrefixMatch matchWalked(Match m) {
    return m.holey.match(m.hit, NOW);
  }
}
