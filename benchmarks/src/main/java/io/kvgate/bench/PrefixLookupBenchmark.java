package io.kvgate.bench;

import io.kvgate.routing.prefix.BlockChain;
import io.kvgate.routing.prefix.BlockHasher;
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
 * The prefix half of a routing decision, with percentiles ({@link Mode#SampleTime}): hash the
 * prompt, then match the chain against an index of about one million (block, endpoint) entries. The
 * request continues a conversation held by one endpoint (3/4 of its blocks cached there) and all
 * endpoints share its system prompt (64 blocks, or a quarter of a shorter prompt).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.SampleTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
public class PrefixLookupBenchmark {

  @Param({"1024", "8192", "32768", "131072"})
  public int promptTokens;

  @Param({"4", "64", "256"})
  public int endpoints;

  private static final long NOW = 1_000_000_000_000L;
  private static final int INDEX_ENTRIES = 1_000_000;

  private BlockHasher hasher;
  private long seed;
  private String prompt;
  private BlockChain chain;
  private LruPrefixIndex index;

  @Setup(Level.Trial)
  public void setUp() {
    hasher = new BlockHasher(Prompts.BLOCK_SIZE_CHARS);
    seed = BlockHasher.seed("meta-llama/Llama-3.1-8B-Instruct", null, null);
    int systemBlocks =
        Math.min(64, promptTokens * Prompts.CHARS_PER_TOKEN / Prompts.BLOCK_SIZE_CHARS / 4);
    String system = Prompts.text(systemBlocks * Prompts.BLOCK_SIZE_CHARS, 3);
    String conversation =
        system + Prompts.text(promptTokens * Prompts.CHARS_PER_TOKEN - system.length(), 4);
    int cached = conversation.length() * 3 / 4;
    prompt = conversation.substring(0, cached) + Prompts.text(conversation.length() - cached, 5);
    chain = hasher.hash(seed, prompt);

    int fillBlocks = 2048;
    index =
        new LruPrefixIndex(
            LruPrefixIndex.Settings.defaults()
                .withDefaultCapacityBlocks(
                    Math.max(INDEX_ENTRIES / endpoints, 2L * chain.length() + fillBlocks))
                .withTtl(Duration.ofMinutes(10)));
    BlockChain systemChain = hasher.hash(seed, system);
    SplittableRandom random = new SplittableRandom(42);
    for (int slot = 0; slot < endpoints; slot++) {
      index.recordRouted(slot, systemChain, NOW);
      while (index.heldBlocks(slot) + fillBlocks + systemBlocks <= INDEX_ENTRIES / endpoints) {
        long[] other =
            Prompts.concat(systemChain.toArray(), Prompts.randomHashes(fillBlocks, random));
        index.recordRouted(slot, Prompts.chain(other), NOW);
      }
    }
    int hitSlot = endpoints - 1;
    index.recordRouted(hitSlot, hasher.hash(seed, conversation), NOW);
    PrefixMatch check = index.match(chain, NOW);
    if (check.matched(hitSlot) < chain.length() * 3 / 4 - 1
        || check.matched(0) != systemBlocks && hitSlot != 0) {
      throw new IllegalStateException(
          "fill did not produce the intended matches: "
              + check.matched(hitSlot)
              + " of "
              + chain.length()
              + ", slot 0: "
              + check.matched(0));
    }
  }

  @Benchmark
  public PrefixMatch hashAndMatch() {
    BlockChain c = hasher.start(seed, prompt.length()).append(prompt).finish();
    return index.match(c, NOW);
  }

  @Benchmark
  public PrefixMatch matchOnly() {
    return index.match(chain, NOW);
  }
}
