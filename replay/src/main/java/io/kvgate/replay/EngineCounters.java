package io.kvgate.replay;

import io.kvgate.sim.EngineStats;

/**
 * One engine's prompt-token counters accumulated over a cell, across restarts of the engine.
 *
 * <p>A restarted engine's counters start again at 0, as a real engine's do, so "counter at the end
 * minus counter at the start" no longer measures the cell. This class takes readings instead and
 * adds up their increases: a reading below the previous one means the engine restarted in between,
 * and counts whole (everything since the restart). What the old process counted between the last
 * reading before the restart and the restart itself is lost, so the replay takes a reading just
 * before it restarts an engine, and the sampler reads every engine about once a simulated second; a
 * restart is recognised as long as the new process has not counted more prompt tokens by the next
 * reading than the old one had in all.
 *
 * <p>Thread-safe (a monitor): the replay's sampler and its restart timer may run on different event
 * loops, and the replay's thread takes the last reading.
 */
final class EngineCounters {

  private long lastPrompt;
  private long lastCached;
  private long lastComputed;
  private long prompt;
  private long cached;
  private long computed;

  /** Starts from a reading taken before the cell's traffic. */
  EngineCounters(EngineStats start) {
    lastPrompt = start.promptTokens();
    lastCached = start.cachedTokens();
    lastComputed = start.prefillTokensComputed();
  }

  /** Adds what the engine counted since the previous reading. */
  synchronized void observe(EngineStats s) {
    boolean restarted =
        s.promptTokens() < lastPrompt
            || s.cachedTokens() < lastCached
            || s.prefillTokensComputed() < lastComputed;
    prompt += restarted ? s.promptTokens() : s.promptTokens() - lastPrompt;
    cached += restarted ? s.cachedTokens() : s.cachedTokens() - lastCached;
    computed += restarted ? s.prefillTokensComputed() : s.prefillTokensComputed() - lastComputed;
    lastPrompt = s.promptTokens();
    lastCached = s.cachedTokens();
    lastComputed = s.prefillTokensComputed();
  }

  /** Prompt tokens of the requests the engine admitted (the prefix cache's queries). */
  synchronized long promptTokens() {
    return prompt;
  }

  /** Prompt tokens the engine found in its prefix cache. */
  synchronized long cachedTokens() {
    return cached;
  }

  /** Prompt tokens the engine ran through prefill. */
  synchronized long prefillTokensComputed() {
    return computed;
  }
}
