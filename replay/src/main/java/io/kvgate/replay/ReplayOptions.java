package io.kvgate.replay;

import io.kvgate.sim.SimEngineConfig;
import java.nio.file.Path;
import java.util.List;

/**
 * What {@code kvgate replay} runs.
 *
 * @param trace the JSONL trace (Mooncake or OpenAI-request form)
 * @param policies policies to compare, each on a fresh fleet and gateway
 * @param replicas engines per fleet
 * @param engine the engines' configuration (capacity, speed, timings); its {@code speed} also
 *     compresses the trace's timestamps
 * @param limit replay only the first N records (0 = all)
 * @param maxOutputTokens cap on each request's generated tokens (0 = the trace's)
 * @param maxOutstanding open-loop bound: a request due while this many are outstanding is dropped
 *     and counted as an error
 * @param jitterMs spread requests uniformly within this many trace milliseconds after their
 *     timestamp (the conversation trace is quantised to ~3 s), seeded
 * @param seed the jitter's seed
 * @param out directory for report.json, report.md and the SVG plots
 * @param warmup requests (the trace's first) replayed once, unmeasured, through a throwaway fleet
 *     and gateway before the first policy, so that no policy pays for the JVM's warm-up: with time
 *     compressed 20×, a 50 ms pause of a cold JVM is a second of trace time
 */
public record ReplayOptions(
    Path trace,
    List<String> policies,
    int replicas,
    SimEngineConfig engine,
    int limit,
    int maxOutputTokens,
    int maxOutstanding,
    long jitterMs,
    long seed,
    Path out,
    int warmup) {

  /** Without a warm-up run. */
  public ReplayOptions(
      Path trace,
      List<String> policies,
      int replicas,
      SimEngineConfig engine,
      int limit,
      int maxOutputTokens,
      int maxOutstanding,
      long jitterMs,
      long seed,
      Path out) {
    this(
        trace,
        policies,
        replicas,
        engine,
        limit,
        maxOutputTokens,
        maxOutstanding,
        jitterMs,
        seed,
        out,
        0);
  }

  /** Characters per token of the simulated engine's tokenizer stand-in. */
  public static final int CHARS_PER_TOKEN = 4;
}
