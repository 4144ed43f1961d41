package io.kvgate.routing.prefix;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * Engine-like KV events keep an endpoint free of holes, so it keeps its galloping match: an engine
 * of fixed capacity serves conversations that share system prompts and grow turn by turn; per
 * request it reports the least recently used leaves it evicts ({@code BlockRemoved}), then the new
 * blocks with their parent ({@code BlockStored}), as vLLM and SGLang do. After every request the
 * index's hole count is 0 and both match modes give the engine's own longest cached prefix.
 */
class EngineFeedHolesTest {

  private static final long NOW = 1_000_000_000_000L;
  private static final int CAPACITY = 600;

  /** A chain hash: covers the parent and the block's content, never 0. */
  private static long hash(long parent, long content) {
    long h = (parent ^ 0x9E3779B97F4A7C15L) * 0xBF58476D1CE4E5B9L + content;
    h = (h ^ (h >>> 31)) * 0x94D049BB133111EBL;
    h ^= h >>> 29;
    return h == 0 ? 1 : h;
  }

  /** The engine: a prefix cache evicting its least recently used leaf (SGLang's radix cache). */
  static final class Engine {
    record Block(long parent, boolean root) {}

    final Map<Long, Block> blocks = new HashMap<>();
    final Map<Long, Long> lastUse = new HashMap<>();
    final Map<Long, Integer> children = new HashMap<>();
    long clock;

    /** The longest prefix of {@code chain} cached here. */
    int cached(long[] chain) {
      int m = 0;
      while (m < chain.length && blocks.containsKey(chain[m])) m++;
      return m;
    }

    /** Serves {@code chain}; returns the evicted blocks, in eviction order. */
    List<Long> serve(long[] chain) {
      int m = cached(chain);
      Set<Long> pinned = new HashSet<>();
      for (int i = 0; i < m; i++) {
        lastUse.put(chain[i], ++clock);
        pinned.add(chain[i]);
      }
      List<Long> evicted = new ArrayList<>();
      while (blocks.size() + chain.length - m > CAPACITY) {
        long victim = 0;
        long oldest = Long.MAX_VALUE;
        for (long b : blocks.keySet()) {
          if (children.getOrDefault(b, 0) == 0 && !pinned.contains(b) && lastUse.get(b) < oldest) {
            oldest = lastUse.get(b);
            victim = b;
          }
        }
        Block gone = blocks.remove(victim);
        lastUse.remove(victim);
        if (!gone.root()) children.merge(gone.parent(), -1, Integer::sum);
        evicted.add(victim);
      }
      for (int i = m; i < chain.length; i++) {
        blocks.put(chain[i], new Block(i == 0 ? 0 : chain[i - 1], i == 0));
        lastUse.put(chain[i], ++clock);
        if (i > 0) children.merge(chain[i - 1], 1, Integer::sum);
      }
      return evicted;
    }
  }

  @Test
  void engineLikeEventsLeaveNoHolesAndMatchTheEngine() {
    for (boolean routedToo : new boolean[] {false, true}) {
      SplittableRandom r = new SplittableRandom(routedToo ? 11 : 10);
      Engine engine = new Engine();
      LruPrefixIndex galloping = index(false, routedToo);
      LruPrefixIndex walking = index(true, routedToo);
      long[][] systems = new long[3][];
      for (int s = 0; s < systems.length; s++) systems[s] = extend(new long[0], 8, s, 0);
      long[][] conversations = new long[40][];
      int[] turns = new int[conversations.length];
      for (int c = 0; c < conversations.length; c++) conversations[c] = systems[c % 3];
      long evictions = 0;
      for (int request = 0; request < 2_000; request++) {
        int c = r.nextInt(conversations.length);
        long[] chain = extend(conversations[c], 2 + r.nextInt(12), c, ++turns[c]);
        if (chain.length > 160) chain = extend(systems[c % 3], 2 + r.nextInt(12), c, ++turns[c]);
        conversations[c] = chain;
        int m = engine.cached(chain);
        if (routedToo) {
          // The gateway's own write on dispatch, before the engine's events arrive.
          for (LruPrefixIndex index : List.of(galloping, walking)) {
            index.recordRouted(0, new BlockChain(chain, 16, 16L * chain.length), NOW);
          }
        }
        long[] removed = engine.serve(chain).stream().mapToLong(Long::longValue).toArray();
        evictions += removed.length;
        for (LruPrefixIndex index : List.of(galloping, walking)) {
          index.blocksRemoved(0, removed, 0, removed.length);
          if (m == 0) {
            index.blocksStored(0, chain, 0, chain.length, 0, false, NOW);
          } else {
            index.blocksStored(0, chain, m, chain.length, chain[m - 1], true, NOW);
          }
          assertEquals(0, index.holes(0), "holes after request " + request);
          assertEquals(engine.blocks.size(), index.heldBlocks(0), "held after request " + request);
        }
        for (long[] probe : List.of(chain, conversations[r.nextInt(conversations.length)])) {
          BlockChain q = new BlockChain(probe, 16, 16L * probe.length);
          int truth = engine.cached(probe);
          assertEquals(truth, galloping.match(q, NOW).matched(0), "gallop, request " + request);
          assertEquals(truth, walking.match(q, NOW).matched(0), "walk, request " + request);
        }
      }
      assertTrue(evictions > 10_000, "the engine evicted under pressure: " + evictions);

      // A snapshot of the same content, in any order and in chunks, with parents: no holes left.
      long[] held = engine.blocks.keySet().stream().mapToLong(Long::longValue).toArray();
      for (int i = held.length - 1; i > 0; i--) {
        int j = r.nextInt(i + 1);
        long t = held[i];
        held[i] = held[j];
        held[j] = t;
      }
      long[] parents = new long[held.length];
      for (int i = 0; i < held.length; i++) {
        Engine.Block b = engine.blocks.get(held[i]);
        parents[i] = b.root() ? PrefixIndex.ROOT : b.parent();
      }
      galloping.clearEndpoint(0);
      for (int from = 0; from < held.length; from += 97) {
        galloping.snapshotStored(0, held, parents, from, Math.min(held.length, from + 97), NOW);
      }
      assertEquals(0, galloping.holes(0));
      assertEquals(held.length, galloping.heldBlocks(0));
      for (long[] probe : conversations) {
        BlockChain q = new BlockChain(probe, 16, 16L * probe.length);
        assertEquals(engine.cached(probe), galloping.match(q, NOW).matched(0));
      }
    }
  }

  /**
   * Index capacity: the engine's; with routing writes too, one request's worth above it, since the
   * gateway's write precedes the engine's report of what it evicted to make room.
   */
  private static LruPrefixIndex index(boolean exactMatch, boolean routedToo) {
    LruPrefixIndex index =
        new LruPrefixIndex(
            LruPrefixIndex.Settings.defaults()
                .withDefaultCapacityBlocks(CAPACITY + (routedToo ? 160 : 0))
                .withExactMatch(exactMatch));
    index.setExpires(0, false);
    return index;
  }

  private static long[] extend(long[] prefix, int blocks, int conversation, int turn) {
    long[] h = Arrays.copyOf(prefix, prefix.length + blocks);
    for (int i = prefix.length; i < h.length; i++) {
      long parent = i == 0 ? 0 : h[i - 1];
      h[i] = hash(parent, ((long) conversation << 40) ^ ((long) turn << 20) ^ i);
    }
    return h;
  }
}
