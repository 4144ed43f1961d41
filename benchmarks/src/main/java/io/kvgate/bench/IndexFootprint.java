package io.kvgate.bench;

import io.kvgate.routing.prefix.LruPrefixIndex;
import java.time.Duration;
import java.util.SplittableRandom;

/**
 * Measures the retained heap of a filled {@link LruPrefixIndex}: used heap after {@code
 * System.gc()} with the index reachable, minus the same before it was built. Not a JMH benchmark
 * (retained size is a state, not a rate).
 *
 * <p>Usage: {@code java -Xmx2g -cp benchmarks.jar io.kvgate.bench.IndexFootprint ENTRIES ENDPOINTS
 * REPLICAS [FEED]} where every chain is written to {@code REPLICAS} endpoints (1: no block is
 * shared, the worst case per entry; 2: every block held twice) by {@code FEED}: {@code routed}
 * (default, {@code recordRouted}) or {@code events} ({@code blocksStored} with parents, so every
 * endpoint also keeps each block's parent and child count).
 */
public final class IndexFootprint {

  private IndexFootprint() {}

  public static void main(String[] args) {
    long entries = args.length > 0 ? Long.parseLong(args[0]) : 10_000_000L;
    int endpoints = args.length > 1 ? Integer.parseInt(args[1]) : 64;
    int replicas = args.length > 2 ? Integer.parseInt(args[2]) : 1;
    String feed = args.length > 3 ? args[3] : "routed";
    if (!feed.equals("routed") && !feed.equals("events")) {
      throw new IllegalArgumentException("FEED must be routed or events (got " + feed + ")");
    }
    int chainBlocks = 2048;
    long before = usedAfterGc();
    long perEndpoint = entries / endpoints;
    LruPrefixIndex index =
        new LruPrefixIndex(
            LruPrefixIndex.Settings.defaults()
                .withDefaultCapacityBlocks(perEndpoint)
                .withTtl(Duration.ofMinutes(10)));
    SplittableRandom random = new SplittableRandom(7);
    long now = 1_000_000_000_000L;
    int slot = 0;
    long start = System.nanoTime();
    while (index.size() + (long) chainBlocks * replicas <= entries) {
      long[] hashes = Prompts.randomHashes(chainBlocks, random);
      var chain = Prompts.chain(hashes);
      for (int r = 0; r < replicas; r++) {
        if (feed.equals("events")) index.blocksStored(slot, hashes, 0, chainBlocks, 0, false, now);
        else index.recordRouted(slot, chain, now);
        slot = (slot + 1) % endpoints;
      }
    }
    long fillNanos = System.nanoTime() - start;
    long after = usedAfterGc();
    long retained = after - before;
    System.out.printf(
        "entries=%d endpoints=%d replicas=%d feed=%s%n", index.size(), endpoints, replicas, feed);
    System.out.printf(
        "retained heap: %d bytes = %.1f MiB = %.1f B/entry (estimatedBytes %.1f B/entry)%n",
        retained,
        retained / 1048576.0,
        retained / (double) index.size(),
        index.estimatedBytes() / (double) index.size());
    System.out.printf(
        "fill: %.2f s, %.0f ns per inserted entry%n",
        fillNanos / 1e9, fillNanos / (double) index.size());
  }

  private static long usedAfterGc() {
    Runtime rt = Runtime.getRuntime();
    long used = Long.MAX_VALUE;
    for (int i = 0; i < 5; i++) {
      System.gc();
      used = Math.min(used, rt.totalMemory() - rt.freeMemory());
    }
    return used;
  }
}
