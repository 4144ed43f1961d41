package io.kvgate.replay;

import static org.junit.jupiter.api.Assertions.*;

import io.kvgate.replay.MultiTenantWorkload.Params;
import io.kvgate.replay.MultiTenantWorkload.Workload;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class MultiTenantWorkloadTest {

  private static Params small(int tenants, int sessions, long seed) {
    return new Params(
        tenants, 1.0, sessions, 2.0, 2, 6, 1024, 4096, 200, 16, 2048, 250, 16, 1024, 10, seed);
  }

  private static void assertSameTrace(List<TraceRecord> a, List<TraceRecord> b) {
    assertEquals(a.size(), b.size());
    for (int i = 0; i < a.size(); i++) {
      assertEquals(a.get(i).timestampMs(), b.get(i).timestampMs(), "record " + i);
      assertEquals(a.get(i).inputLength(), b.get(i).inputLength(), "record " + i);
      assertEquals(a.get(i).outputLength(), b.get(i).outputLength(), "record " + i);
      assertArrayEquals(a.get(i).hashIds(), b.get(i).hashIds(), "record " + i);
    }
  }

  @Test
  void sameSeedSameTraceOtherSeedOtherTrace() {
    Workload a = MultiTenantWorkload.generate(small(8, 200, 7));
    Workload b = MultiTenantWorkload.generate(small(8, 200, 7));
    assertSameTrace(a.records(), b.records());
    assertArrayEquals(a.tenantOf(), b.tenantOf());
    assertArrayEquals(a.sessionOf(), b.sessionOf());
    Workload c = MultiTenantWorkload.generate(small(8, 200, 8));
    assertNotEquals(Arrays.toString(a.tenantOf()), Arrays.toString(c.tenantOf()));
    // The defaults are pinned too: a changed generator changes every published number.
    Workload d = MultiTenantWorkload.generate(Params.defaults());
    assertEquals(7479, d.records().size());
  }

  @Test
  void turnsExtendTheirPredecessorAndShareTheTenantsSystemPrompt() {
    Workload w = MultiTenantWorkload.generate(small(6, 300, 3));
    List<TraceRecord> t = w.records();
    Map<Integer, List<Integer>> bySession = new HashMap<>();
    for (int i = 0; i < t.size(); i++)
      bySession.computeIfAbsent(w.sessionOf()[i], s -> new ArrayList<>()).add(i);
    Map<Integer, long[]> systemIds = new HashMap<>();
    HashIdText text = new HashIdText(ReplayOptions.CHARS_PER_TOKEN);
    for (List<Integer> turns : bySession.values()) {
      assertTrue(turns.size() >= 2 && turns.size() <= 6);
      int tenant = w.tenantOf()[turns.get(0)];
      int sys = w.systemTokens()[tenant];
      assertEquals(0, sys % TraceRecord.TRACE_BLOCK_TOKENS, "whole blocks");
      assertTrue(sys >= 1024 && sys <= 4096);
      long[] head =
          Arrays.copyOf(t.get(turns.get(0)).hashIds(), sys / TraceRecord.TRACE_BLOCK_TOKENS);
      long[] known = systemIds.putIfAbsent(tenant, head);
      if (known != null)
        assertArrayEquals(known, head, "every session of a tenant starts with its system prompt");
      for (int k = 0; k < turns.size(); k++) {
        int i = turns.get(k);
        assertEquals(k, w.turnOf()[i]);
        TraceRecord r = t.get(i);
        assertEquals(tenant, w.tenantOf()[i]);
        assertEquals(MultiTenantWorkload.ceilBlocks(r.inputLength()), r.hashIds().length);
        if (k == 0) {
          assertTrue(r.inputLength() > sys);
          continue;
        }
        TraceRecord prev = t.get(turns.get(k - 1));
        assertTrue(r.timestampMs() > prev.timestampMs(), "turns in order");
        assertTrue(
            r.inputLength() >= prev.inputLength() + prev.outputLength() + 16,
            "prompt = previous prompt + reply + new message");
        assertArrayEquals(
            prev.hashIds(),
            Arrays.copyOf(r.hashIds(), prev.hashIds().length),
            "turn k's ids extend turn k-1's");
        // What the engine sees: turn k-1's rendered prompt is a prefix of turn k's, partial last
        // block included.
        if (k == 1) assertTrue(text.prompt(r).startsWith(text.prompt(prev)));
      }
    }
    assertTrue(systemIds.size() >= 4, "several tenants present");
    // Chained ids, as in the Mooncake release: each id at a single position after a single
    // predecessor.
    Map<Long, Long> predecessor = new HashMap<>();
    Map<Long, Integer> position = new HashMap<>();
    long maxSeen = -1;
    for (TraceRecord r : t) {
      for (int b = 0; b < r.hashIds().length; b++) {
        long id = r.hashIds()[b];
        long pred = b == 0 ? -1 : r.hashIds()[b - 1];
        assertEquals(pred, predecessor.computeIfAbsent(id, x -> pred));
        int at = b;
        assertEquals(at, position.computeIfAbsent(id, x -> at));
        assertTrue(id <= maxSeen + 1, "ids numbered by first appearance");
        maxSeen = Math.max(maxSeen, id);
      }
    }
  }

  @Test
  void tenantPopularityFollowsZipf() {
    int tenants = 16;
    Params p =
        new Params(tenants, 1.0, 20_000, 50, 1, 1, 512, 512, 50, 16, 100, 50, 16, 100, 1, 11);
    int[] n = MultiTenantWorkload.generate(p).sessionsPerTenant();
    double h = 0;
    for (int i = 1; i <= tenants; i++) h += 1.0 / i;
    assertEquals(20_000, Arrays.stream(n).sum());
    assertEquals(1 / h, n[0] / 20_000.0, 0.015, "top tenant's share " + Arrays.toString(n));
    assertEquals(2.0, (double) n[0] / n[1], 0.25, Arrays.toString(n));
    assertEquals(16.0, (double) n[0] / n[15], 3.0, Arrays.toString(n));
    assertTrue(n[0] > n[1] && n[1] > n[3] && n[3] > n[7] && n[7] > n[15], Arrays.toString(n));
    int[] uniform =
        MultiTenantWorkload.generate(
                new Params(
                    tenants, 0.0, 20_000, 50, 1, 1, 512, 512, 50, 16, 100, 50, 16, 100, 1, 11))
            .sessionsPerTenant();
    for (int c : uniform) assertEquals(20_000 / 16.0, c, 150, Arrays.toString(uniform));
  }

  @Test
  void oracleOnATinyTraceMatchesAHandComputation() {
    // One tenant, a 512-token system prompt, two sessions of two turns, user messages of exactly
    // 100 tokens and replies of exactly 50: prompts 612, 762 per session.
    Params p = new Params(1, 1.0, 2, 1.0, 2, 2, 512, 512, 100, 100, 100, 50, 50, 50, 5, 1);
    Workload w = MultiTenantWorkload.generate(p);
    List<TraceRecord> t = w.records();
    assertEquals(4, t.size());
    int[] inputs = t.stream().mapToInt(TraceRecord::inputLength).sorted().toArray();
    assertArrayEquals(new int[] {612, 612, 762, 762}, inputs);
    // In 16-token blocks: the first session's first turn misses everything; the other session's
    // first turn hits the system prompt (32 blocks = 512 tokens); each second turn hits the system
    // prompt and its own first turn's 6 full blocks of the user message (38 blocks = 608 tokens).
    double expected = (0 + 512 + 608 + 608) / (612.0 + 612 + 762 + 762);
    assertEquals(expected, CacheBounds.oracle(t, 16), 1e-12);
    assertEquals(expected, CacheBounds.pooledLru(t, 16, 1_000_000), 1e-12);
    // Distinct full blocks: 32 (system) + 15 + 15 (each session's 250 tokens after it).
    assertEquals(62, w.distinctBlocks(16));
  }

  @Test
  void writesMooncakeJsonlThatTheReaderReadsBack(@TempDir Path dir) throws Exception {
    Workload w = MultiTenantWorkload.generate(small(4, 30, 5));
    Path f = dir.resolve("mt.jsonl");
    MultiTenantWorkload.write(w, f);
    assertSameTrace(w.records(), TraceReader.read(f, 0));
  }

  @Test
  void rejectsImpossibleParameters() {
    assertThrows(
        IllegalArgumentException.class,
        () -> new Params(0, 1, 1, 1, 1, 1, 512, 512, 1, 1, 1, 1, 1, 1, 0, 1));
    assertThrows(
        IllegalArgumentException.class,
        () -> new Params(1, 1, 1, 1, 3, 2, 512, 512, 1, 1, 1, 1, 1, 1, 0, 1));
    assertThrows(
        IllegalArgumentException.class,
        () -> new Params(1, 1, 1, 1, 1, 1, 600, 1000, 1, 1, 1, 1, 1, 1, 0, 1));
  }
}
