package io.kvgate.routing.prefix;

import static io.kvgate.routing.prefix.PrefixIndexPropertiesTest.CHAINS;
import static io.kvgate.routing.prefix.PrefixIndexPropertiesTest.CHAIN_BLOCKS;
import static io.kvgate.routing.prefix.PrefixIndexPropertiesTest.SLOTS;
import static io.kvgate.routing.prefix.PrefixIndexPropertiesTest.chain;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.kvgate.routing.prefix.PrefixIndexPropertiesTest.Model;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * Both feeds interleaved: routing ({@code recordRouted}) and engine events ({@code blocksStored} of
 * any sub-range of a chain, with its true parent or none, so also blocks whose parents the slot
 * lacks; {@code snapshotStored} of any blocks in any order, with their parents or none; {@code
 * blocksRemoved} of any blocks, inner ones included; {@code clearEndpoint}; {@code setExpires}),
 * with capacity changes and time passing. After every step the galloping index, the walking index
 * and the reference LRU model ({@link Model}) must give the same match for every slot and chain,
 * and the same held blocks; and each slot's hole count must be exactly the number of held blocks
 * whose parent was never given or is not held (so galloping, which the index does while it is 0, is
 * exercised on every slot without holes, and never skips one).
 */
class PreciseFeedPropertiesTest {

  private static final long SECOND = 1_000_000_000L;
  private static final Duration TTL = Duration.ofSeconds(60);

  sealed interface Op permits Route, Store, Snapshot, Remove, Clear, Capacity, Expires, Advance {}

  record Route(int slot, int chain, int length) implements Op {}

  /** Blocks {@code from..to-1} of a chain, with their true parent or ({@code !parents}) none. */
  record Store(int slot, int chain, int from, int to, boolean parents) implements Op {}

  /** A snapshot chunk: any blocks in any order, with their true parents or none. */
  record Snapshot(int slot, List<Long> blocks, boolean parents) implements Op {}

  /** Removes blocks {@code from..to-1} of a chain, in the order given by {@code reversed}. */
  record Remove(int slot, int chain, int from, int to, boolean reversed) implements Op {}

  record Clear(int slot) implements Op {}

  record Capacity(int slot, int blocks) implements Op {}

  record Expires(int slot, boolean expires) implements Op {}

  record Advance(int seconds) implements Op {}

  static List<Op> operations(SplittableRandom r) {
    int n = r.nextInt(81);
    List<Op> ops = new ArrayList<>(n);
    for (int k = 0; k < n; k++) {
      int slot = r.nextInt(SLOTS);
      int chain = r.nextInt(CHAINS);
      int a = r.nextInt(CHAIN_BLOCKS + 1);
      int b = r.nextInt(CHAIN_BLOCKS + 1);
      int from = Math.min(a, b);
      int to = Math.max(a, b);
      boolean parents = r.nextInt(4) != 0;
      switch (r.nextInt(17)) {
        case 0, 1, 2 -> ops.add(new Route(slot, chain, 1 + r.nextInt(CHAIN_BLOCKS)));
        case 3, 4, 5, 6 ->
            // Mostly whole prefixes, as engines store; sometimes a range whose parent is missing.
            ops.add(
                r.nextInt(3) == 0
                    ? new Store(slot, chain, from, to, parents)
                    : new Store(slot, chain, 0, 1 + r.nextInt(CHAIN_BLOCKS), parents));
        case 16 -> ops.add(new Snapshot(slot, snapshotBlocks(r), parents));
        case 7, 8 ->
            ops.add(
                r.nextBoolean()
                    ? new Remove(slot, chain, from, to, r.nextBoolean())
                    : new Remove(slot, chain, a % CHAIN_BLOCKS, a % CHAIN_BLOCKS + 1, false));
        case 9 -> ops.add(new Clear(slot));
        case 10, 11 -> ops.add(new Capacity(slot, r.nextInt(31)));
        case 12 -> ops.add(new Expires(slot, r.nextBoolean()));
        default -> ops.add(new Advance(r.nextInt(41)));
      }
    }
    return ops;
  }

  /** A random subset of all the chains' blocks, shuffled. */
  private static List<Long> snapshotBlocks(SplittableRandom r) {
    Set<Long> all = new java.util.LinkedHashSet<>();
    for (int c = 0; c < CHAINS; c++) {
      for (int i = 0; i < CHAIN_BLOCKS; i++) all.add(PrefixIndexPropertiesTest.block(c, i));
    }
    double share = r.nextDouble();
    List<Long> picked = new ArrayList<>();
    for (long b : all) {
      // A snapshot cannot name a parent whose hash is 0 (it reads as ROOT; chain 0's first block).
      if (PARENT.get(b) != 0 && r.nextDouble() < share) picked.add(b);
    }
    for (int i = picked.size() - 1; i > 0; i--)
      java.util.Collections.swap(picked, i, r.nextInt(i + 1));
    return picked;
  }

  /** Every test block's parent ({@link #NONE} for a chain's first). */
  private static final java.util.Map<Long, Long> PARENT = new java.util.HashMap<>();

  /** No parent: not {@link PrefixIndex#ROOT}, because chain 0's first block has the hash 0. */
  private static final long NONE = Long.MIN_VALUE;

  static {
    for (int c = 0; c < CHAINS; c++) {
      for (int i = 0; i < CHAIN_BLOCKS; i++) {
        long parent = i == 0 ? NONE : PrefixIndexPropertiesTest.block(c, i - 1);
        Long before = PARENT.put(PrefixIndexPropertiesTest.block(c, i), parent);
        if (before != null && before != parent) throw new AssertionError("two parents");
      }
    }
  }

  @Test
  void bothMatchModesAgreeWithTheReferenceModelUnderBothFeeds() {
    for (long seed = 40_000; seed < 41_000; seed++) {
      List<Op> ops = operations(new SplittableRandom(seed));
      try {
        agrees(ops);
      } catch (AssertionError e) {
        throw new AssertionError(
            "case seed " + seed + " (" + ops.size() + " ops): " + e.getMessage(), e);
      }
    }
  }

  private static LruPrefixIndex index(boolean exactMatch) {
    return new LruPrefixIndex(
        LruPrefixIndex.Settings.defaults()
            .withDefaultCapacityBlocks(25)
            .withTtl(TTL)
            .withExactMatch(exactMatch));
  }

  static void agrees(List<Op> ops) {
    LruPrefixIndex galloping = index(false);
    LruPrefixIndex walking = index(true);
    Model model = new Model(25, SlotCache.units(TTL.toNanos()));
    // Slots the index has created, and those that track parents (see SlotCache#track).
    Set<Integer> exists = new HashSet<>();
    Set<Integer> tracked = new HashSet<>();
    long now = 77 * SECOND;
    for (Op op : ops) {
      for (LruPrefixIndex index : List.of(galloping, walking)) apply(index, op, now);
      int opSlot = slotOf(op);
      boolean precise = op instanceof Store || op instanceof Snapshot;
      if (precise || op instanceof Remove rm && rm.to() > rm.from() && exists.contains(opSlot)) {
        if (tracked.add(opSlot)) model.forgetParents(opSlot);
      }
      if (!(op instanceof Remove || op instanceof Clear || op instanceof Advance)) {
        exists.add(opSlot);
      }
      if (op instanceof Route r) {
        model.write(r.slot(), chain(r.chain(), r.length()).toArray(), now);
      } else if (op instanceof Store st) {
        long[] all = chain(st.chain(), CHAIN_BLOCKS).toArray();
        long[] stored = java.util.Arrays.copyOfRange(all, st.from(), st.to());
        model.write(st.slot(), stored, filled(stored.length, st.parents()), now);
      } else if (op instanceof Snapshot sn) {
        long[] stored = sn.blocks().stream().mapToLong(Long::longValue).toArray();
        model.write(sn.slot(), stored, filled(stored.length, sn.parents()), now);
      } else if (op instanceof Remove rm) {
        for (long h : removed(rm)) model.remove(rm.slot(), h);
      } else if (op instanceof Clear cl) {
        long expected = model.clear(cl.slot());
        assertEquals(expected, walking.heldBlocks(cl.slot()) == 0 ? expected : -1);
      } else if (op instanceof Capacity c) {
        model.capacity(c.slot(), c.blocks());
      } else if (op instanceof Expires e) {
        model.expires(e.slot(), e.expires());
      } else if (op instanceof Advance a) {
        now += a.seconds() * SECOND;
      }
      for (int c = 0; c < CHAINS; c++) {
        long[] query = chain(c, CHAIN_BLOCKS).toArray();
        PrefixMatch g = galloping.match(chain(c, CHAIN_BLOCKS), now);
        PrefixMatch w = walking.match(chain(c, CHAIN_BLOCKS), now);
        for (int s = 0; s < SLOTS; s++) {
          int expected = model.match(s, query, now);
          assertEquals(expected, w.matched(s), "walk: slot " + s + " chain " + c + " after " + op);
          assertEquals(
              expected, g.matched(s), "gallop: slot " + s + " chain " + c + " after " + op);
        }
      }
      for (LruPrefixIndex index : List.of(galloping, walking)) {
        long total = 0;
        for (int s = 0; s < SLOTS; s++) {
          assertEquals(model.slot(s).size(), index.heldBlocks(s), "held blocks of slot " + s);
          assertEquals(
              tracked.contains(s), index.tracksParents(s), "slot " + s + " tracks parents");
          assertEquals(
              expectedHoles(model, s, tracked.contains(s)),
              index.holes(s),
              "holes of slot " + s + " after " + op);
          total += index.heldBlocks(s);
        }
        assertEquals(total, index.size());
      }
    }
  }

  /**
   * Held blocks of {@code s} written without their parent, or whose parent is not held; 0 for a
   * slot written by routing alone (its set is prefix-closed by construction, and not counted).
   */
  private static long expectedHoles(Model model, int s, boolean tracked) {
    if (!tracked) return 0;
    Set<Long> held = model.slot(s).keySet();
    long holes = 0;
    for (long b : held) {
      long parent = PARENT.get(b);
      boolean hole = !model.knowsParent(s, b) || parent != NONE && !held.contains(parent);
      if (hole) holes++;
    }
    return holes;
  }

  private static boolean[] filled(int n, boolean value) {
    boolean[] b = new boolean[n];
    java.util.Arrays.fill(b, value);
    return b;
  }

  private static int slotOf(Op op) {
    if (op instanceof Route r) return r.slot();
    if (op instanceof Store st) return st.slot();
    if (op instanceof Snapshot sn) return sn.slot();
    if (op instanceof Remove rm) return rm.slot();
    if (op instanceof Clear cl) return cl.slot();
    if (op instanceof Capacity c) return c.slot();
    if (op instanceof Expires e) return e.slot();
    return -1;
  }

  private static long[] removed(Remove rm) {
    long[] all = chain(rm.chain(), CHAIN_BLOCKS).toArray();
    long[] r = java.util.Arrays.copyOfRange(all, rm.from(), rm.to());
    if (rm.reversed()) {
      for (int i = 0, j = r.length - 1; i < j; i++, j--) {
        long t = r[i];
        r[i] = r[j];
        r[j] = t;
      }
    }
    return r;
  }

  private static void apply(LruPrefixIndex index, Op op, long now) {
    if (op instanceof Route r) {
      index.recordRouted(r.slot(), chain(r.chain(), r.length()), now);
    } else if (op instanceof Store st) {
      long[] all = chain(st.chain(), CHAIN_BLOCKS).toArray();
      if (!st.parents()) {
        index.blocksStored(st.slot(), all, st.from(), st.to(), now);
      } else if (st.from() == 0) {
        index.blocksStored(st.slot(), all, st.from(), st.to(), 0, false, now);
      } else {
        index.blocksStored(st.slot(), all, st.from(), st.to(), all[st.from() - 1], true, now);
      }
    } else if (op instanceof Snapshot sn) {
      // Within a larger array, to exercise the range.
      long[] hashes = new long[sn.blocks().size() + 2];
      long[] parents = new long[hashes.length];
      for (int i = 0; i < sn.blocks().size(); i++) {
        hashes[i + 1] = sn.blocks().get(i);
        long parent = PARENT.get(hashes[i + 1]);
        parents[i + 1] = parent == NONE ? PrefixIndex.ROOT : parent;
      }
      index.snapshotStored(
          sn.slot(), hashes, sn.parents() ? parents : null, 1, hashes.length - 1, now);
    } else if (op instanceof Remove rm) {
      long[] r = removed(rm);
      index.blocksRemoved(rm.slot(), r, 0, r.length);
    } else if (op instanceof Clear cl) {
      long held = index.heldBlocks(cl.slot());
      assertEquals(held, index.clearEndpoint(cl.slot()), "clearEndpoint returns what it removed");
    } else if (op instanceof Capacity c) {
      index.setCapacityBlocks(c.slot(), c.blocks());
    } else if (op instanceof Expires e) {
      index.setExpires(e.slot(), e.expires());
    }
  }

  /**
   * Engine events in large slices race matches and routing writes on the same slots; afterwards the
   * index is consistent (every held block of each slot is matched there, sizes add up), and no
   * match ever reported a slot that had been cleared with nothing stored since.
   */
  @Test
  void concurrentEventsRoutingAndMatchesKeepTheViewsConsistent() throws Exception {
    for (long seed = 50_000; seed < 50_003; seed++) concurrentCase(seed);
  }

  static void concurrentCase(long seed) throws Exception {
    int slots = 6;
    LruPrefixIndex index =
        new LruPrefixIndex(
            LruPrefixIndex.Settings.defaults().withDefaultCapacityBlocks(20_000).withTtl(TTL));
    ExecutorService pool = Executors.newFixedThreadPool(4);
    CountDownLatch start = new CountDownLatch(1);
    List<Future<?>> done = new ArrayList<>();
    try {
      for (int t = 0; t < 3; t++) {
        SplittableRandom random = new SplittableRandom(seed * 10 + t);
        done.add(
            pool.submit(
                () -> {
                  start.await();
                  for (int n = 0; n < 300; n++) {
                    int slot = random.nextInt(slots);
                    long[] h = big(random.nextInt(8), 1 + random.nextInt(12_000));
                    switch (random.nextInt(6)) {
                      case 0 -> index.blocksStored(slot, h, 0, h.length, SECOND);
                      case 1 -> index.blocksRemoved(slot, h, h.length / 3, h.length);
                      case 2 -> index.clearEndpoint(slot);
                      case 3 ->
                          index.recordRouted(slot, new BlockChain(h, 16, 16L * h.length), SECOND);
                      default -> {
                        BlockChain c = new BlockChain(h, 16, 16L * h.length);
                        PrefixMatch m = index.match(c, SECOND);
                        for (int s = 0; s < slots; s++) {
                          if (m.matched(s) > c.length()) throw new AssertionError("past the chain");
                        }
                      }
                    }
                  }
                  return null;
                }));
      }
      start.countDown();
      for (Future<?> f : done) f.get(120, TimeUnit.SECONDS);
    } finally {
      pool.shutdownNow();
    }
    long total = 0;
    for (int s = 0; s < slots; s++) {
      long[] held = index.blocksMostRecentFirst(s);
      assertEquals(held.length, index.heldBlocks(s));
      assertTrue(held.length <= index.capacityBlocks(s));
      total += held.length;
      for (long h : held) {
        assertEquals(
            1, index.match(new BlockChain(new long[] {h}, 16, 16), SECOND).matched(s), "slot " + s);
      }
    }
    assertEquals(total, index.size());
  }

  /**
   * A match reads each slot under one optimistic read of its lock, so it sees the slot between two
   * writes, never inside one: slots that a writer keeps clearing and refilling with a whole chain
   * in one write (routing on slot 0, one engine event on slot 1) are matched at 0 or at the chain's
   * full length, nothing in between, and the galloping never lands on a half-written table.
   */
  @Test
  void aMatchSeesEachSlotBetweenWritesNeverInsideOne() throws Exception {
    LruPrefixIndex index =
        new LruPrefixIndex(LruPrefixIndex.Settings.defaults().withDefaultCapacityBlocks(10_000));
    long[] h = big(3, 3_000);
    BlockChain chain = new BlockChain(h, 16, 16L * h.length);
    java.util.concurrent.atomic.AtomicBoolean stop =
        new java.util.concurrent.atomic.AtomicBoolean();
    ExecutorService pool = Executors.newSingleThreadExecutor();
    try {
      Future<Integer> writer =
          pool.submit(
              () -> {
                int rounds = 0;
                while (!stop.get()) {
                  index.clearEndpoint(0);
                  index.recordRouted(0, chain, SECOND);
                  index.clearEndpoint(1);
                  index.blocksStored(1, h, 0, h.length, 0, false, SECOND);
                  rounds++;
                }
                return rounds;
              });
      for (int n = 0; n < 20_000 && !writer.isDone(); n++) {
        PrefixMatch m = index.match(chain, SECOND);
        for (int s = 0; s < 2; s++) {
          int matched = m.matched(s);
          assertTrue(matched == 0 || matched == 3_000, "slot " + s + " matched " + matched);
        }
      }
      stop.set(true);
      assertTrue(writer.get(60, TimeUnit.SECONDS) > 0, "the writer made progress");
    } finally {
      pool.shutdownNow();
    }
    assertEquals(0, index.holes(1), "a whole chain stored parent first leaves no hole");
  }

  /** Chain {@code c}'s first {@code n} blocks, chains sharing their first 500 blocks. */
  private static long[] big(int c, int n) {
    long[] h = new long[n];
    for (int i = 0; i < n; i++) h[i] = i < 500 ? 9_000_000L + i : (c + 1) * 100_000_000L + i;
    return h;
  }
}
