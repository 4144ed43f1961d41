package io.kvgate.sim;

import static org.junit.jupiter.api.Assertions.*;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The scheduler and compute model on a fake simulated clock: no wall time involved. */
class EngineCoreTest {

  private static final long MS = 1_000_000L;

  /** 10k prefill tokens/s (0.1 ms per token), 10 ms decode step, 16-token blocks. */
  private final SimEngineConfig config =
      SimEngineConfig.builder()
          .prefillTokensPerSecond(10_000)
          .decodeStepTime(Duration.ofMillis(10))
          .maxNumSeqs(4)
          .maxNumBatchedTokens(2048)
          .capacityBlocks(1024)
          .build();

  private final EngineMetrics metrics = new EngineMetrics();
  private final EngineCore core = new EngineCore(config, metrics);
  private long seq;

  /** Records token times. */
  static final class Trace implements SimRequest.Sink {
    final List<Long> times = new ArrayList<>();
    boolean finished;

    @Override
    public void onToken(SimRequest r, int index, boolean last, long nowNanos) {
      assertEquals(times.size(), index);
      times.add(nowNanos);
      finished = last;
    }

    long ttft(SimRequest r) {
      return times.get(0) - r.arrivalNanos;
    }
  }

  private SimRequest submit(int[] tokens, int maxTokens, boolean remote, Trace sink, long now) {
    SimRequest r =
        new SimRequest(
            ++seq, tokens, KvBlockPool.chainHashes(tokens, 16), maxTokens, remote, now, sink);
    core.submit(r, now);
    return r;
  }

  private static int[] prompt(int seed, int n) {
    int[] t = new int[n];
    for (int i = 0; i < n; i++) t[i] = seed * 100_000 + i;
    return t;
  }

  /** Runs the core to idle on the fake clock; returns the final time. */
  private long runToIdle(long now) {
    long t = now;
    for (int guard = 0; guard < 1_000_000; guard++) {
      long next = core.advanceTo(t);
      if (next == Long.MAX_VALUE) return t;
      t = next;
    }
    throw new AssertionError("core did not go idle");
  }

  @Test
  void prefillCostsUncachedTokensAndDecodeOneTokenPerStep() {
    Trace a = new Trace();
    SimRequest r = submit(prompt(1, 1000), 5, false, a, 0);
    runToIdle(0);
    assertEquals(5, a.times.size());
    assertTrue(a.finished);
    // 1000 tokens at 0.1 ms = 100 ms, then 4 decode steps of 10 ms
    assertEquals(100 * MS, a.ttft(r));
    assertEquals(140 * MS, a.times.get(4));
    assertEquals(1000, metrics.prefillTokensComputed);
    assertEquals(0, core.running());
    assertEquals(0.0, core.pool().usage(), 1e-9);
  }

  @Test
  void cachedPrefixCutsTimeToFirstToken() {
    int[] p = prompt(2, 1600);
    Trace cold = new Trace();
    SimRequest first = submit(p, 1, false, cold, 0);
    long t = runToIdle(0);
    Trace warm = new Trace();
    SimRequest second = submit(p, 1, false, warm, t);
    runToIdle(t);
    // whole prompt is 100 full blocks; vLLM recomputes at least one token, so 99 blocks hit
    assertEquals(99 * 16, second.cachedTokens);
    assertEquals(0, first.cachedTokens);
    assertTrue(
        warm.ttft(second) * 5 < cold.ttft(first), warm.ttft(second) + " vs " + cold.ttft(first));
    assertEquals(3200, metrics.prefixCacheQueries);
    assertEquals(99 * 16, metrics.prefixCacheHits);
    assertEquals(1, metrics.cacheHitRequests);
  }

  @Test
  void aPrefixStillPrefillingIsHitUpToWhatIsScheduledWhenTheSecondRequestIsAdmitted() {
    // 3,000 tokens = a 2,048-token chunk, then 952. The duplicate arrives during the first chunk
    // and is admitted in the second step, after the first request's last chunk was scheduled: it
    // hits all 187 full blocks (2,992 tokens), prefills 8 tokens in the budget left, and both
    // first tokens come at the end of that step. Caching only finished prompts would give it 0,
    // caching finished chunks 2,048.
    int[] p = prompt(4, 3000);
    Trace firstTrace = new Trace();
    SimRequest first = submit(p, 1, false, firstTrace, 0);
    long t = core.advanceTo(0); // chunk 1 (2,048 tokens) until 204.8 ms
    Trace secondTrace = new Trace();
    SimRequest second = submit(p, 1, false, secondTrace, t / 2);
    runToIdle(t);
    assertEquals(0, first.cachedTokens);
    assertEquals(187 * 16, second.cachedTokens);
    assertEquals(3000 + 8, metrics.prefillTokensComputed);
    assertEquals(firstTrace.times.get(0), secondTrace.times.get(0));
  }

  @Test
  void aRequestWaitsWhileTheRunningPrefillsUseTheWholeBudget() {
    // vLLM v1 admits waiting requests only while the step has token budget left. A duplicate of a
    // 8,192-token prompt that arrives during its first chunk waits (num_requests_waiting = 1)
    // until the last chunk is done, then hits all of it but the block it must recompute.
    int[] p = prompt(5, 8192);
    Trace firstTrace = new Trace();
    submit(p, 1, false, firstTrace, 0);
    long t = core.advanceTo(0);
    Trace secondTrace = new Trace();
    SimRequest second = submit(p, 1, false, secondTrace, t / 2);
    t = core.advanceTo(t); // chunk 2: the budget is taken, the duplicate waits
    assertEquals(1, core.waiting());
    assertEquals(1, core.running());
    runToIdle(t);
    assertEquals(8192 - 16, second.cachedTokens);
    assertEquals(8192 + 16, metrics.prefillTokensComputed);
  }

  @Test
  void simultaneousPrefillsShareComputeSoTheLastWaits() {
    Trace lone = new Trace();
    SimRequest alone = submit(prompt(3, 2000), 1, false, lone, 0);
    long t = runToIdle(0);
    List<SimRequest> burst = new ArrayList<>();
    List<Trace> traces = new ArrayList<>();
    for (int i = 0; i < 8; i++) {
      Trace tr = new Trace();
      traces.add(tr);
      burst.add(submit(prompt(10 + i, 2000), 1, false, tr, t));
    }
    runToIdle(t);
    long eighth = traces.get(7).ttft(burst.get(7));
    assertTrue(eighth > 2 * lone.ttft(alone), eighth + " vs lone " + lone.ttft(alone));
    long firstOfBurst = traces.get(0).ttft(burst.get(0));
    assertTrue(firstOfBurst < eighth);
  }

  @Test
  void runningBatchIsBoundedAndTheRestWait() {
    List<Trace> traces = new ArrayList<>();
    for (int i = 0; i < 6; i++) {
      Trace tr = new Trace();
      traces.add(tr);
      submit(prompt(20 + i, 32), 50, false, tr, 0);
    }
    // the first arrival started a step alone; the others join at the next step, up to maxNumSeqs
    long t = core.advanceTo(0);
    assertEquals(1, core.running());
    core.advanceTo(t);
    assertEquals(4, core.running());
    assertEquals(2, core.waiting());
    runToIdle(0);
    for (Trace tr : traces) assertEquals(50, tr.times.size());
    // the 5th request could only start when one of the first four finished
    assertTrue(traces.get(4).times.get(0) > traces.get(0).times.get(49) - 1);
  }

  @Test
  void decodeBatchStretchesStepWhenComputeBound() {
    SimEngineConfig big = config.toBuilder().maxNumSeqs(512).maxNumBatchedTokens(4096).build();
    EngineCore c = new EngineCore(big, new EngineMetrics());
    List<Trace> traces = new ArrayList<>();
    for (int i = 0; i < 300; i++) {
      Trace tr = new Trace();
      traces.add(tr);
      int[] p = prompt(1000 + i, 4);
      c.submit(new SimRequest(i, p, KvBlockPool.chainHashes(p, 16), 3, false, 0, tr), 0);
    }
    long t = 0;
    while ((t = c.advanceTo(t)) != Long.MAX_VALUE) {}
    Trace tr = traces.get(0);
    // 300 decode tokens at 0.1 ms = 30 ms per step, above the 10 ms floor
    assertEquals(30 * MS, tr.times.get(2) - tr.times.get(1));
  }

  @Test
  void abortFreesSlotAndBlocksAtOnce() {
    Trace a = new Trace();
    SimRequest r = submit(prompt(4, 64), 1000, false, a, 0);
    long t = core.advanceTo(0);
    t = core.advanceTo(t); // prefill done, first token
    assertEquals(1, a.times.size());
    assertTrue(core.pool().usage() > 0);
    core.abort(r);
    assertEquals(SimRequest.State.ABORTED, r.state);
    assertEquals(0, core.running());
    assertEquals(0.0, core.pool().usage(), 1e-9);
    runToIdle(t);
    assertEquals(1, a.times.size(), "no tokens after abort");
    assertEquals(4, core.pool().cachedBlocks(), "computed prompt blocks stay cached");
  }

  @Test
  void remotePrefillChargesTransferNotComputeAndCachesBlocks() {
    SimEngineConfig d =
        config.toBuilder().kvTransferTokensPerSecond(100_000).role(Role.DECODE).build();
    EngineMetrics m = new EngineMetrics();
    EngineCore c = new EngineCore(d, m);
    int[] p = prompt(5, 3201);
    Trace tr = new Trace();
    SimRequest r = new SimRequest(1, p, KvBlockPool.chainHashes(p, 16), 2, true, 0, tr);
    c.submit(r, 0);
    long t = 0;
    while ((t = c.advanceTo(t)) != Long.MAX_VALUE) {}
    assertEquals(3200, r.transferredTokens);
    assertEquals(1, m.prefillTokensComputed, "only the last token is recomputed");
    // 3200 tokens at 100k/s = 32 ms transfer, then a 10 ms step (vs 320 ms of local prefill)
    assertEquals(42 * MS, tr.ttft(r));
    assertEquals(200, c.pool().cachedBlocks(), "transferred blocks enter the prefix cache");
  }

  @Test
  void requestLargerThanFreeBlocksWaitsForCapacity() {
    SimEngineConfig small = config.toBuilder().capacityBlocks(10).build();
    EngineCore c = new EngineCore(small, new EngineMetrics());
    Trace a = new Trace(), b = new Trace();
    int[] pa = prompt(6, 100), pb = prompt(7, 100);
    c.submit(new SimRequest(1, pa, KvBlockPool.chainHashes(pa, 16), 20, false, 0, a), 0);
    c.submit(new SimRequest(2, pb, KvBlockPool.chainHashes(pb, 16), 20, false, 0, b), 0);
    c.advanceTo(0);
    assertEquals(1, c.running());
    assertEquals(1, c.waiting());
    long t = 0;
    while ((t = c.advanceTo(t)) != Long.MAX_VALUE) {}
    assertEquals(20, b.times.size());
    assertTrue(b.times.get(0) > a.times.get(19) - 1);
  }
}
