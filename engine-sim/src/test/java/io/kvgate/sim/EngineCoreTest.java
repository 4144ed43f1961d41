package io.kvgate.sim;

import static org.junit.jupiter.api.Assertions.*;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The scheduler and compute model on a fake simulated clock: no wall time involved. */
class EngineCoreTest {

  private static final long MS = 1_000_000L;

  /**
   * 10k prefill tokens/s (0.1 ms per token), 10 ms decode step, KV read at 1M tokens/s (1 us per
   * context token), 16-token blocks.
   */
  private final SimEngineConfig config =
      SimEngineConfig.builder()
          .prefillTokensPerSecond(10_000)
          .decodeStepTime(Duration.ofMillis(10))
          .kvReadTokensPerSecond(1_000_000)
          .maxNumSeqs(4)
          .maxNumBatchedTokens(2048)
          .capacityBlocks(1024)
          .build();

  private final EngineMetrics metrics = new EngineMetrics(0);
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
            ++seq, tokens, BlockKeys.ofTokens(tokens, 16, 0), maxTokens, remote, now, sink);
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
    // 1000 tokens at 0.1 ms = 100 ms (compute-bound: its memory time is 10 ms + 1000 us), then 4
    // decode steps of 10 ms plus the KV read of 1001..1004 context tokens at 1 us each
    assertEquals(100 * MS, a.ttft(r));
    assertEquals(140 * MS + (1001 + 1002 + 1003 + 1004) * 1000L, a.times.get(4));
    assertEquals(1000, metrics.prefillTokensComputed);
    assertEquals(0, core.running());
    assertEquals(0.0, core.pool().usage(), 1e-9);
  }

  @Test
  void busyTimeCountsOnlySpansWithARequestWaitingOrRunning() {
    Trace a = new Trace();
    submit(prompt(7, 1000), 5, false, a, 0);
    runToIdle(0);
    long firstSpan = a.times.get(4);
    assertEquals(firstSpan, metrics.busyNanos);
    // a second of idleness is not busy time; the second request's span is
    long later = firstSpan + 1000 * MS;
    Trace b = new Trace();
    submit(prompt(8, 1000), 5, false, b, later);
    runToIdle(later);
    assertEquals(firstSpan + (b.times.get(4) - later), metrics.busyNanos);
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
    EngineCore c = new EngineCore(big, new EngineMetrics(0));
    List<Trace> traces = new ArrayList<>();
    for (int i = 0; i < 300; i++) {
      Trace tr = new Trace();
      traces.add(tr);
      int[] p = prompt(1000 + i, 4);
      c.submit(new SimRequest(i, p, BlockKeys.ofTokens(p, 16, 0), 3, false, 0, tr), 0);
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
    EngineMetrics m = new EngineMetrics(0);
    EngineCore c = new EngineCore(d, m);
    int[] p = prompt(5, 3201);
    Trace tr = new Trace();
    SimRequest r = new SimRequest(1, p, BlockKeys.ofTokens(p, 16, 0), 2, true, 0, tr);
    c.submit(r, 0);
    long t = 0;
    while ((t = c.advanceTo(t)) != Long.MAX_VALUE) {}
    assertEquals(3200, r.transferredTokens);
    assertEquals(1, m.prefillTokensComputed, "only the last token is recomputed");
    // 3200 tokens at 100k/s = 32 ms transfer, then a step recomputing one token: 10 ms plus the
    // KV read of its 3201-token context at 1 us each (vs 320 ms of local prefill)
    assertEquals(32 * MS + 10 * MS + 3201 * 1000L, tr.ttft(r));
    assertEquals(200, c.pool().cachedBlocks(), "transferred blocks enter the prefix cache");
  }

  @Test
  void requestLargerThanFreeBlocksWaitsForCapacity() {
    SimEngineConfig small = config.toBuilder().capacityBlocks(10).build();
    EngineCore c = new EngineCore(small, new EngineMetrics(0));
    Trace a = new Trace(), b = new Trace();
    int[] pa = prompt(6, 100), pb = prompt(7, 100);
    c.submit(new SimRequest(1, pa, BlockKeys.ofTokens(pa, 16, 0), 20, false, 0, a), 0);
    c.submit(new SimRequest(2, pb, BlockKeys.ofTokens(pb, 16, 0), 20, false, 0, b), 0);
    c.advanceTo(0);
    assertEquals(1, c.running());
    assertEquals(1, c.waiting());
    long t = 0;
    while ((t = c.advanceTo(t)) != Long.MAX_VALUE) {}
    assertEquals(20, b.times.size());
    assertTrue(b.times.get(0) > a.times.get(19) - 1);
  }

  // ---- the roofline: compute vs weights + KV reads -------------------------------------------

  /**
   * 10k prefill tokens/s (0.1 ms per token), 10 ms weights read, KV read at 10M tokens/s (100 ns
   * per context token), an 8,192-token step budget: round numbers, so every step time below is
   * exact.
   */
  private static final SimEngineConfig ROOFLINE =
      SimEngineConfig.builder()
          .prefillTokensPerSecond(10_000)
          .decodeStepTime(Duration.ofMillis(10))
          .kvReadTokensPerSecond(10_000_000)
          .maxNumSeqs(64)
          .maxNumBatchedTokens(8192)
          .capacityBlocks(20_000)
          .build();

  /** A batch of requests decoding in lockstep, and the time its first tokens came out. */
  record Lockstep(List<Trace> traces, List<SimRequest> requests, long firstTokens) {}

  /**
   * {@code n} requests for one {@code promptTokens} prompt that a warm-up request has just
   * prefilled: they arrive during its step, are admitted together in the next one (each recomputes
   * its last block) and emit their first tokens at the same time, so every later step holds all of
   * them with the same context.
   */
  private static Lockstep lockstep(EngineCore c, int n, int promptTokens, int maxTokens) {
    int[] p = prompt(77, promptTokens);
    long[] hashes = BlockKeys.ofTokens(p, 16, 0);
    c.submit(new SimRequest(0, p, hashes, 1, false, 0, new Trace()), 0);
    long warmEnd = c.advanceTo(0);
    List<Trace> traces = new ArrayList<>();
    List<SimRequest> requests = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      Trace tr = new Trace();
      SimRequest r = new SimRequest(1 + i, p, hashes, maxTokens, false, warmEnd / 2, tr);
      c.submit(r, warmEnd / 2);
      traces.add(tr);
      requests.add(r);
    }
    long admissionEnd = c.advanceTo(warmEnd);
    c.advanceTo(admissionEnd);
    for (Trace tr : traces) assertEquals(List.of(admissionEnd), tr.times);
    return new Lockstep(traces, requests, admissionEnd);
  }

  @Test
  void aStepLastsTheLongerOfItsComputeAndItsWeightsPlusKvReads() {
    EngineCore c = new EngineCore(ROOFLINE, new EngineMetrics(0));
    assertEquals(10 * MS, c.stepNanos(1, 0), "one token, no context: the weights read");
    assertEquals(10 * MS + 6_400_000, c.stepNanos(32, 64_000), "32 decodes over 2k contexts each");
    assertEquals(
        803_200_000, c.stepNanos(32 + 8000, 64_000 + 8000), "the same with an 8k prefill chunk");
  }

  @Test
  void aDecodeBatchsInterTokenLatencyGrowsWithTheKvItReads() {
    EngineCore c = new EngineCore(ROOFLINE, new EngineMetrics(0));
    Lockstep b = lockstep(c, 32, 2000, 4);
    long t = b.firstTokens();
    while ((t = c.advanceTo(t)) != Long.MAX_VALUE) {}
    List<Long> times = b.traces().get(0).times;
    // step k reads the weights (10 ms) and 32 contexts of 2000 + k tokens at 100 ns each;
    // compute (32 tokens = 3.2 ms) stays below
    for (int k = 1; k <= 3; k++) {
      assertEquals(10 * MS + 32L * (2000 + k) * 100, times.get(k) - times.get(k - 1), "step " + k);
    }
    for (Trace tr : b.traces()) assertEquals(times, tr.times, "the batch decodes in lockstep");

    // the same batch over 8k contexts: 25.6 ms of KV reads per step on top of the weights
    EngineCore longer = new EngineCore(ROOFLINE, new EngineMetrics(0));
    Lockstep l = lockstep(longer, 32, 8000, 2);
    t = l.firstTokens();
    while ((t = longer.advanceTo(t)) != Long.MAX_VALUE) {}
    List<Long> lt = l.traces().get(0).times;
    assertEquals(10 * MS + 32L * 8001 * 100, lt.get(1) - lt.get(0));
  }

  @Test
  void aPrefillChunkInTheStepDelaysEveryRunningDecode() {
    EngineMetrics m = new EngineMetrics(0);
    EngineCore c = new EngineCore(ROOFLINE, m);
    Lockstep b = lockstep(c, 32, 2000, 6);
    long t = c.advanceTo(b.firstTokens()); // decode step 1 (contexts 2001) in flight
    t = c.advanceTo(t); // step 1 done, step 2 (contexts 2002) in flight
    Trace longTrace = new Trace();
    int[] longPrompt = prompt(78, 8000);
    long arrival = t - MS;
    SimRequest longRequest =
        new SimRequest(
            100, longPrompt, BlockKeys.ofTokens(longPrompt, 16, 0), 2, false, arrival, longTrace);
    c.submit(longRequest, arrival); // joins step 3
    while ((t = c.advanceTo(t)) != Long.MAX_VALUE) {}
    List<Long> times = b.traces().get(0).times;
    assertEquals(10 * MS + 32L * 2002 * 100, times.get(2) - times.get(1), "decode-only step");
    // step 3: 32 decode tokens + the 8,000-token prompt in one chunk = 8,032 tokens at 0.1 ms =
    // 803.2 ms of compute, against 10 ms + (32 x 2003 + 8000) x 100 ns = 17.2 ms of memory
    assertEquals(803_200_000, times.get(3) - times.get(2), "the decodes wait for the prefill");
    assertEquals(times.get(3) - arrival, longTrace.ttft(longRequest));
    // step 4: back to memory-bound, now also reading the new request's 8,001-token context
    assertEquals(10 * MS + (32L * 2004 + 8001) * 100, times.get(4) - times.get(3));
    for (Trace tr : b.traces()) assertEquals(times, tr.times);

    // vllm:inter_token_latency_seconds saw the stall once per running decode: 32 gaps in
    // (0.75 s, 1 s], every other gap in (0.01 s, 0.025 s]
    EngineMetrics.Histogram itl = m.interTokenLatency;
    int le075 = java.util.Arrays.binarySearch(EngineMetrics.ITL_BUCKETS, 0.75);
    int le1 = java.util.Arrays.binarySearch(EngineMetrics.ITL_BUCKETS, 1.0);
    assertEquals(32, itl.counts[le1] - itl.counts[le075]);
    assertEquals(32 * 5 + 1, itl.count, "5 gaps per batch request, 1 for the long one");
    int le0025 = java.util.Arrays.binarySearch(EngineMetrics.ITL_BUCKETS, 0.025);
    assertEquals(32 * 5 + 1 - 32, itl.counts[le0025]);
    assertEquals(0, itl.counts[0], "no gap under 10 ms");
  }

  @Test
  void timeToFirstTokenCountsFromArrivalNotFromSubmission() {
    // A decode leg that waited for its bootstrap room enters the core later than it arrived.
    EngineMetrics m = new EngineMetrics(0);
    EngineCore c = new EngineCore(config, m);
    int[] p = prompt(9, 160);
    Trace tr = new Trace();
    SimRequest r = new SimRequest(1, p, BlockKeys.ofTokens(p, 16, 0), 1, false, 0, tr);
    c.submit(r, 50 * MS);
    long t = 50 * MS;
    while ((t = c.advanceTo(t)) != Long.MAX_VALUE) {}
    // 160 tokens at 0.1 ms = 16 ms of compute, above 10 ms + 160 us of memory
    assertEquals(66 * MS, tr.ttft(r));
    assertEquals(0.066, m.timeToFirstToken.sumSeconds, 1e-12);
  }
}
