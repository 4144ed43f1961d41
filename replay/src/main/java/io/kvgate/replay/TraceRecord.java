package io.kvgate.replay;

/**
 * One request of a trace.
 *
 * @param timestampMs arrival time from the trace's start
 * @param inputLength prompt tokens
 * @param outputLength tokens to generate
 * @param hashIds Mooncake block ids, one per 512 prompt tokens (the last covering a partial block);
 *     equal ids mean equal text. Empty for OpenAI-request traces.
 * @param path for OpenAI-request traces, the API path; null for Mooncake records
 * @param body for OpenAI-request traces, the request body as JSON text; null for Mooncake records
 */
public record TraceRecord(
    long timestampMs, int inputLength, int outputLength, long[] hashIds, String path, String body) {

  /** Tokens per Mooncake hash id. */
  public static final int TRACE_BLOCK_TOKENS = 512;
}
