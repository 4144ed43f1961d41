package io.kvgate.bench;

import io.kvgate.routing.prefix.BlockChain;
import io.kvgate.routing.prefix.LruPrefixIndex;
import io.kvgate.routing.prefix.PrefixMatch;
import java.time.Duration;
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
 * {@link LruPrefixIndex#match} on a full index: {@code indexBlocks} (block, endpoint) entries
 * spread over {@code endpoints}, every endpoint also holding a shared 64-block system prompt (so
 * every endpoint's table is asked about the prompt and holds part of it).
 *
 * <ul>
 *   <li>{@code matchHit}: the request continues a conversation held by one endpoint: the system
 *       prompt matches everywhere, then 3/4 of the chain matches on one endpoint.
 *   <li>{@code matchMiss}: a new system prompt, matching nothing (one probe per endpoint).
 *   <li>{@code exactMatch} compares the galloping match (default) with the per-block walk.
 *   <li>{@code recordRoutedHeld}: teaching the index a dispatched chain that is already held (the
 *       common case for a hit: every block is moved to the LRU head).
 *   <li>{@code recordRoutedNew}: teaching it a chain never seen before on a full endpoint (a new
 *       long document: every block inserted, and as many evicted from the LRU tail). The chain's
 *       hashes are rewritten in place each time (a multiply per block, ~1 µs of the result).
 *   <li>{@code recordRoutedNewTwoWriters}: the same from two threads at once, each teaching its own
 *       endpoint (as two event loops do): what concurrent writers cost each other. Time per
 *       operation per thread.
 * </ul>
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
public class PrefixIndexBenchmark {

  @Param({"1000000", "10000000"})
  public int indexBlocks;

  @Param({"4", "64", "256"})
  public int endpoints;

  @Param({"32768"})
  public int promptTokens;

  /** false: the galloping match (the default); true: the per-block walk. */
  @Param({"false", "true"})
  public boolean exactMatch;

  private static final long NOW = 1_000_000_000_000L;

  private LruPrefixIndex index;
  private BlockChain hit;
  private BlockChain miss;
  private int hitSlot;
  private long[] fresh;
  private BlockChain freshChain;
  private long freshSeed = 1;

  @Setup(Level.Trial)
  public void fill() {
    int promptBlocks = promptTokens * Prompts.CHARS_PER_TOKEN / Prompts.BLOCK_SIZE_CHARS;
    long perEndpoint = indexBlocks / endpoints;
    index =
        new LruPrefixIndex(
            LruPrefixIndex.Settings.defaults()
                .withDefaultCapacityBlocks(perEndpoint)
                .withTtl(Duration.ofMinutes(10))
                .withExactMatch(exactMatch));
    SplittableRandom random = new SplittableRandom(42);
    long[] system = Prompts.randomHashes(64, random);
    BlockChain last = null;
    for (int slot = 0; slot < endpoints; slot++) {
      while (index.heldBlocks(slot) + promptBlocks <= perEndpoint) {
        last =
            Prompts.chain(Prompts.concat(system, Prompts.randomHashes(promptBlocks - 64, random)));
        index.recordRouted(slot, last, NOW);
      }
    }
    hitSlot = endpoints - 1;
    long[] conversation = last.toArray();
    long[] request =
        Prompts.concat(
            java.util.Arrays.copyOf(conversation, promptBlocks * 3 / 4),
            Prompts.randomHashes(promptBlocks - promptBlocks * 3 / 4, random));
    hit = Prompts.chain(request);
    miss = Prompts.chain(Prompts.randomHashes(promptBlocks, random));
    PrefixMatch check = index.match(hit, NOW);
    if (check.matched(hitSlot) != promptBlocks * 3 / 4 || check.matched(0) != 64 && endpoints > 1) {
      throw new IllegalStateException(
          "fill did not produce the intended matches: "
              + check.matched(hitSlot)
              + " / "
              + check.matched(0));
    }
    fresh = new long[promptBlocks];
    freshChain = Prompts.chain(fresh);
    System.out.printf(
        "%n[fill] entries=%d estimatedBytes=%d (%.1f B/entry)%n",
        index.size(), index.estimatedBytes(), index.estimatedBytes() / (double) index.size());
  }

  @Benchmark
  public PrefixMatch matchHit() {
    return index.match(hit, NOW);
  }

  @Benchmark
  public PrefixMatch matchMiss() {
    return index.match(miss, NOW);
  }

  @Benchmark
  public void recordRoutedHeld() {
    index.recordRouted(hitSlot, hit, NOW);
  }

  @Benchmark
  public void recordRoutedNew() {
    long[] h = fresh;
    for (int i = 0; i < h.length; i++) h[i] = (freshSeed++ | 1L << 62) * 0x9E3779B97F4A7C15L;
    index.recordRouted(0, freshChain, NOW);
  }

  /** One writing thread's own endpoint and chain. */
  @State(Scope.Thread)
  public static class Writer {
    private static final java.util.concurrent.atomic.AtomicInteger NEXT =
        new java.util.concurrent.atomic.AtomicInteger();
    int slot;
    long[] hashes;
    BlockChain chain;
    long seed;

    @Setup(Level.Trial)
    public void setUp(PrefixIndexBenchmark b) {
      slot = NEXT.getAndIncrement() % b.endpoints;
      hashes = new long[b.fresh.length];
      chain = Prompts.chain(hashes);
      seed = 1L + ((long) slot << 40);
    }
  }

  @Benchmark
  @org.openjdk.jmh.annotations.Threads(2)
  public void recordRoutedNewTwoWriters(Writer w) {
    long[] h = w.hashes;
    for (int i = 0; i < h.length; i++) h[i] = (w.seed++ | 1L << 62) * 0x9E3779B97F4A7C15L;
    index.recordRouted(w.slot, w.chain, NOW);
  }
}
