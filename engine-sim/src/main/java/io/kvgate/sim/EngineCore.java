package io.kvgate.sim;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;

/**
 * The scheduler and compute model of one simulated engine, on an injected simulated clock.
 *
 * <p><b>Design</b> (after vLLM v1's {@code Scheduler} with chunked prefill). Time advances in
 * engine steps. At the start of a step the scheduler
 *
 * <ol>
 *   <li>gives every decoding request one token of the step's {@code maxNumBatchedTokens} budget,
 *       then hands the rest to prefilling requests in admission order (chunked prefill);
 *   <li>admits waiting requests first-come-first-served while the step has budget left, the running
 *       batch is below {@code maxNumSeqs} and the block pool can supply the request's blocks; the
 *       head of the queue blocks the rest (FCFS). Admission looks up the prefix cache: the cached
 *       tokens are the longest run of leading full blocks present, searched only over the first
 *       {@code prompt - 1} tokens so at least one token is recomputed, as vLLM does. Blocks for
 *       prompt plus all completion tokens are reserved at once (vLLM allocates lazily and may
 *       preempt; reserving makes preemption impossible here). What is left of the budget goes to
 *       the new requests' first chunks.
 * </ol>
 *
 * A prompt's full blocks enter the prefix cache as their chunk is scheduled, not when the whole
 * prompt is done (vLLM v1 caches in {@code allocate_slots}), so a request that shares a prefix
 * still being prefilled hits the part scheduled so far.
 *
 * <p>A step lasts {@code max(compute, memory)} (a roofline): {@code compute = scheduledTokens /
 * prefillTokensPerSecond}, the matrix work over every token in the step, and {@code memory =
 * decodeStepTime + contextTokens / kvReadTokensPerSecond}, reading the weights once plus the KV of
 * every context token the step attends over: a decoding sequence's prompt plus the tokens it has
 * generated so far, a prefilling sequence's tokens computed before the step plus its chunk. So
 * uncached prompt tokens cost time, concurrent prefills share the compute, a prefill chunk in the
 * step delays every running decode's next token, and a decode batch's inter-token latency grows
 * with the KV it reads. At the end of the step each request that finished its prefill emits its
 * first token, each decoding request emits one token, finished requests free their blocks, and the
 * next step starts at once if there is work.
 *
 * <p>A decode leg of a disaggregated request ({@code remotePrefill}) skips the prefill of every
 * prompt token it does not have cached: it waits {@code tokens / kvTransferTokensPerSecond}
 * (transfer, off the compute budget, as a NIXL pull is), its transferred full blocks enter the
 * prefix cache, and it recomputes one token.
 *
 * <p>Not thread-safe: the owning engine calls it from one event loop. Time is an argument of every
 * call, so tests drive it with a fake clock.
 */
final class EngineCore {

  private final SimEngineConfig config;
  private final KvBlockPool pool;
  private final EngineMetrics metrics;
  private final int blockSize;
  private final long decodeStepNanos;
  private final double nanosPerToken;
  private final double kvReadNanosPerToken;
  private final double transferNanosPerToken;

  private final ArrayDeque<SimRequest> waiting = new ArrayDeque<>();
  private final List<SimRequest> running = new ArrayList<>();
  private final List<SimRequest> finishedInStep = new ArrayList<>();
  private boolean stepInFlight;
  private boolean ended;
  private long stepEndNanos;
  // the step being scheduled: budget left, tokens scheduled, context tokens read, earliest pending
  // KV transfer
  private int budget;
  private int scheduled;
  private long context;
  private long nextTransfer;
  // busy-time accounting: the simulated time up to which busy time is counted, or -1 while the
  // core has no request waiting or running; the latest simulated time the core was told
  private long busyMark = -1;
  private long lastNowNanos;

  EngineCore(SimEngineConfig config, EngineMetrics metrics) {
    this.config = config;
    this.metrics = metrics;
    this.pool = new KvBlockPool(config.capacityBlocks());
    this.blockSize = config.blockSizeTokens();
    this.decodeStepNanos = config.decodeStepTime().toNanos();
    this.nanosPerToken = 1e9 / config.prefillTokensPerSecond();
    this.kvReadNanosPerToken = 1e9 / config.kvReadTokensPerSecond();
    this.transferNanosPerToken = 1e9 / config.kvTransferTokensPerSecond();
  }

  KvBlockPool pool() {
    return pool;
  }

  int running() {
    return running.size();
  }

  int waiting() {
    return waiting.size();
  }

  /**
   * Blocks a request of this size needs; callers reject requests above {@link
   * KvBlockPool#capacity}.
   */
  int blocksNeeded(int promptTokens, int maxTokens) {
    return SimRequest.blocksNeeded(promptTokens, maxTokens, blockSize);
  }

  /** Queues {@code r}; call {@link #advanceTo} right after. */
  void submit(SimRequest r, long nowNanos) {
    if (ended) {
      r.state = SimRequest.State.ABORTED;
      return;
    }
    advanceTo(nowNanos);
    metrics.requests++;
    metrics.promptTokens += r.promptTokens();
    waiting.add(r);
    if (busyMark < 0) busyMark = nowNanos;
  }

  /** Stops {@code r} at once: leaves the queue or the batch and unpins its blocks. */
  void abort(SimRequest r) {
    switch (r.state) {
      case WAITING -> waiting.remove(r);
      case TRANSFERRING, PREFILL, DECODE -> {
        running.remove(r);
        pool.free(r.blocks);
      }
      default -> {
        return;
      }
    }
    r.state = SimRequest.State.ABORTED;
    metrics.aborted++;
    if (idle()) {
      // the core learns no time here: its busy time ends at the last time it was told
      countBusy(lastNowNanos);
      busyMark = -1;
    }
  }

  /**
   * Ends this core, as a process that dies does: every request leaves the queue and the batch at
   * once ({@link SimRequest.State#ABORTED}, no metric counts it, nothing is emitted) and the core
   * is idle for good. The engine replaces a core it ended with a fresh one ({@link
   * SimEngine#restart()}); late calls on the old one (a closing connection's {@link #abort}) find
   * nothing to do.
   */
  void end() {
    for (SimRequest r : waiting) r.state = SimRequest.State.ABORTED;
    for (SimRequest r : running) r.state = SimRequest.State.ABORTED;
    waiting.clear();
    running.clear();
    stepInFlight = false;
    ended = true;
    busyMark = -1;
  }

  /**
   * Runs every step that ends by {@code nowNanos} and starts the next one if there is work.
   *
   * @return the simulated time at which this core next needs a call, or {@link Long#MAX_VALUE} if
   *     it is idle
   */
  long advanceTo(long nowNanos) {
    if (ended) return Long.MAX_VALUE;
    lastNowNanos = Math.max(lastNowNanos, nowNanos);
    long start = nowNanos;
    while (true) {
      if (stepInFlight) {
        if (stepEndNanos > nowNanos) {
          countBusy(nowNanos);
          return stepEndNanos;
        }
        stepInFlight = false;
        finishStep(stepEndNanos);
        start = stepEndNanos;
      }
      long wake = startStep(start, nowNanos);
      if (!stepInFlight) {
        countBusy(nowNanos);
        return wake;
      }
    }
  }

  private boolean idle() {
    return waiting.isEmpty() && running.isEmpty();
  }

  /**
   * Adds the time from the busy mark to {@code t} to {@link EngineMetrics#busyNanos} while the core
   * has a request waiting or running; the mark moves to {@code t}.
   */
  private void countBusy(long t) {
    if (busyMark >= 0 && t > busyMark) {
      metrics.busyNanos += t - busyMark;
      busyMark = t;
    }
  }

  /** Starts a step at {@code t}; returns when to call again if nothing could be scheduled. */
  private long startStep(long t, long nowNanos) {
    budget = config.maxNumBatchedTokens();
    scheduled = 0;
    context = 0;
    nextTransfer = Long.MAX_VALUE;
    for (SimRequest r : running) {
      if (r.state == SimRequest.State.DECODE && budget > 0) {
        r.scheduledDecode = true;
        budget--;
        scheduled++;
        context += r.promptTokens() + r.generated;
      }
    }
    // The running batch's prefill chunks first, then admissions, each scheduled as it is admitted
    // (vLLM v1 schedules RUNNING before WAITING): a request admitted now already hits the blocks
    // scheduled before it in this step.
    for (SimRequest r : running) schedulePrefill(r, t);
    admit(t);
    if (scheduled == 0)
      return nextTransfer == Long.MAX_VALUE ? Long.MAX_VALUE : Math.max(nextTransfer, nowNanos);
    stepEndNanos = t + stepNanos(scheduled, context);
    stepInFlight = true;
    metrics.steps++;
    return stepEndNanos;
  }

  /**
   * The duration of a step of {@code tokens} scheduled tokens attending over {@code contextTokens}
   * context tokens: {@code max(compute, memory)}, see the class comment.
   */
  long stepNanos(int tokens, long contextTokens) {
    long computeNanos = (long) Math.ceil(tokens * nanosPerToken);
    long memoryNanos = decodeStepNanos + (long) Math.ceil(contextTokens * kvReadNanosPerToken);
    return Math.max(computeNanos, memoryNanos);
  }

  /** Gives {@code r} its prefill chunk of this step's remaining budget, if it is prefilling. */
  private void schedulePrefill(SimRequest r, long t) {
    if (r.state == SimRequest.State.TRANSFERRING) {
      if (r.readyAtNanos > t) {
        nextTransfer = Math.min(nextTransfer, r.readyAtNanos);
        return;
      }
      finishTransfer(r);
    }
    if (r.state == SimRequest.State.PREFILL && budget > 0) {
      int chunk = Math.min(budget, r.promptTokens() - r.computedTokens);
      r.scheduledChunk = chunk;
      budget -= chunk;
      scheduled += chunk;
      context += r.computedTokens + chunk;
      cacheScheduled(r, r.computedTokens + chunk);
    }
  }

  private void admit(long t) {
    // vLLM v1 admits only while the step has token budget left: a request that cannot start its
    // prefill in this step stays waiting (and counts in num_requests_waiting) rather than pinning
    // its prefix hit now.
    while (!waiting.isEmpty() && running.size() < config.maxNumSeqs() && budget > 0) {
      SimRequest r = waiting.peek();
      int n = r.promptTokens();
      int searchable = (n - 1) / blockSize;
      int hit = pool.match(r.blockHashes, searchable);
      int[] blocks = pool.allocate(r.blockHashes, hit, blocksNeeded(n, r.maxTokens));
      if (blocks == null) return;
      waiting.poll();
      r.blocks = blocks;
      r.cachedTokens = hit * blockSize;
      r.cachedUpToBlock = hit;
      r.computedTokens = r.cachedTokens;
      metrics.prefixCacheQueries += n;
      metrics.prefixCacheHits += r.cachedTokens;
      if (hit > 0) metrics.cacheHitRequests++;
      if (r.remotePrefill && n - 1 > r.computedTokens) {
        r.transferredTokens = n - 1 - r.computedTokens;
        r.readyAtNanos = t + (long) Math.ceil(r.transferredTokens * transferNanosPerToken);
        r.state = SimRequest.State.TRANSFERRING;
      } else {
        r.state = SimRequest.State.PREFILL;
      }
      running.add(r);
      schedulePrefill(r, t);
    }
  }

  private void finishTransfer(SimRequest r) {
    r.computedTokens = r.promptTokens() - 1;
    metrics.transferredTokens += r.transferredTokens;
    cacheScheduled(r, r.computedTokens);
    r.state = SimRequest.State.PREFILL;
  }

  /**
   * Enters the full blocks of {@code r}'s first {@code tokens} tokens into the prefix cache as soon
   * as their computation is scheduled, as vLLM v1's {@code allocate_slots} does ({@code
   * cache_blocks} up to the tokens computed after this step): a request with the same prefix that
   * arrives while a long prompt is still prefilling hits the chunks scheduled so far instead of
   * computing them a second time.
   */
  private void cacheScheduled(SimRequest r, int tokens) {
    int full = Math.min(r.blockHashes.length, tokens / blockSize);
    if (full > r.cachedUpToBlock)
      pool.commitChain(r.blocks, r.blockHashes, r.cachedUpToBlock, full);
    r.cachedUpToBlock = Math.max(r.cachedUpToBlock, full);
  }

  private void finishStep(long t) {
    finishedInStep.clear();
    // iterate over a stable copy index-wise: sinks may abort other requests synchronously
    for (int i = 0; i < running.size(); i++) {
      SimRequest r = running.get(i);
      if (r.scheduledChunk > 0) {
        r.computedTokens += r.scheduledChunk;
        metrics.prefillTokensComputed += r.scheduledChunk;
        r.scheduledChunk = 0;
        if (r.computedTokens == r.promptTokens()) {
          r.state = SimRequest.State.DECODE;
          r.firstTokenNanos = t;
          metrics.timeToFirstToken.observeNanos(t - r.arrivalNanos);
          emit(r, t);
        }
      } else if (r.scheduledDecode) {
        r.scheduledDecode = false;
        emit(r, t);
      }
    }
    for (SimRequest r : finishedInStep) {
      running.remove(r);
      pool.free(r.blocks);
    }
    countBusy(t);
    if (idle()) busyMark = -1;
  }

  private void emit(SimRequest r, long t) {
    int index = r.generated++;
    metrics.generationTokens++;
    if (index > 0) metrics.interTokenLatency.observeNanos(t - r.lastTokenNanos);
    r.lastTokenNanos = t;
    boolean last = r.generated >= r.maxTokens;
    if (last) {
      r.state = SimRequest.State.FINISHED;
      metrics.finishedRequests++;
      metrics.e2eLatency.observeNanos(t - r.arrivalNanos);
      finishedInStep.add(r);
    }
    r.sink.onToken(r, index, last, t);
  }

  /** Requests in the batch, for tests. */
  Iterator<SimRequest> runningRequests() {
    return running.iterator();
  }
}
