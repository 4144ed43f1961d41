package io.kvgate.sim;

/**
 * One request's scheduling state inside an {@link EngineCore}. Owned by the engine's event loop.
 */
final class SimRequest {

  enum State {
    WAITING,
    TRANSFERRING,
    PREFILL,
    DECODE,
    FINISHED,
    ABORTED
  }

  /** Receives a request's output, at the simulated time each engine step ends. */
  interface Sink {
    /** Token number {@code index} (0-based) was generated; {@code last} if it is the final one. */
    void onToken(SimRequest r, int index, boolean last, long nowNanos);
  }

  final long seq;
  final int[] tokens;
  final long[] blockHashes;
  final int maxTokens;
  final boolean remotePrefill;
  final long arrivalNanos;
  final Sink sink;

  State state = State.WAITING;
  int[] blocks;
  int cachedTokens;

  /** Leading blocks already entered into the prefix cache (hit at admission or scheduled since). */
  int cachedUpToBlock;

  int transferredTokens;
  int computedTokens;
  int scheduledChunk;
  boolean scheduledDecode;
  int generated;
  long readyAtNanos;
  long firstTokenNanos = -1;
  long lastTokenNanos = -1;

  SimRequest(
      long seq,
      int[] tokens,
      long[] blockHashes,
      int maxTokens,
      boolean remotePrefill,
      long arrivalNanos,
      Sink sink) {
    this.seq = seq;
    this.tokens = tokens;
    this.blockHashes = blockHashes;
    this.maxTokens = maxTokens;
    this.remotePrefill = remotePrefill;
    this.arrivalNanos = arrivalNanos;
    this.sink = sink;
  }

  int promptTokens() {
    return tokens.length;
  }

  /** Blocks reserved at admission: the prompt plus every completion token (no preemption). */
  static int blocksNeeded(int promptTokens, int maxTokens, int blockSizeTokens) {
    return (promptTokens + maxTokens + blockSizeTokens - 1) / blockSizeTokens;
  }
}
