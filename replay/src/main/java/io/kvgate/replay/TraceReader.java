package io.kvgate.replay;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.BufferedReader;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Reads traces in JSON Lines, in either of two forms, detected per line:
 *
 * <ul>
 *   <li>Mooncake: {@code {"timestamp": ms, "input_length": n, "output_length": n, "hash_ids":
 *       [..]}};
 *   <li>OpenAI requests: {@code {"timestamp": ms, "path": "/v1/chat/completions", "body": {...}}}
 *       ({@code path} defaults to {@code /v1/chat/completions}; output length is the body's {@code
 *       max_tokens} or {@code max_completion_tokens}).
 * </ul>
 *
 * A malformed line fails with its line number. Blank lines are skipped.
 */
public final class TraceReader {

  private static final ObjectMapper JSON = new ObjectMapper();

  private TraceReader() {}

  public static List<TraceRecord> read(Path file, int limit) throws IOException {
    List<TraceRecord> out = new ArrayList<>();
    try (BufferedReader r = Files.newBufferedReader(file)) {
      String line;
      int n = 0;
      while ((line = r.readLine()) != null && (limit <= 0 || out.size() < limit)) {
        n++;
        if (line.isBlank()) continue;
        out.add(parse(line, file + ":" + n));
      }
    }
    return out;
  }

  static TraceRecord parse(String line, String where) {
    JsonNode j;
    try {
      j = JSON.readTree(line);
    } catch (IOException e) {
      throw new IllegalArgumentException(where + ": not valid JSON: " + e.getMessage());
    }
    if (j == null || !j.isObject())
      throw new IllegalArgumentException(where + ": expected a JSON object");
    JsonNode ts = j.get("timestamp");
    if (ts == null || !ts.isNumber())
      throw new IllegalArgumentException(where + ": 'timestamp' (ms) is required");
    if (j.has("body")) {
      JsonNode body = j.get("body");
      if (!body.isObject())
        throw new IllegalArgumentException(where + ": 'body' must be a JSON object");
      String path = j.path("path").asText("/v1/chat/completions");
      int out = body.path("max_tokens").asInt(body.path("max_completion_tokens").asInt(16));
      return new TraceRecord(ts.asLong(), -1, out, new long[0], path, body.toString());
    }
    JsonNode in = j.get("input_length");
    JsonNode out = j.get("output_length");
    JsonNode ids = j.get("hash_ids");
    if (in == null
        || !in.canConvertToInt()
        || out == null
        || !out.canConvertToInt()
        || ids == null
        || !ids.isArray()) {
      throw new IllegalArgumentException(
          where
              + ": expected Mooncake fields input_length, output_length, hash_ids"
              + " or OpenAI-request fields path, body");
    }
    long[] h = new long[ids.size()];
    for (int i = 0; i < h.length; i++) {
      if (!ids.get(i).canConvertToLong())
        throw new IllegalArgumentException(where + ": hash_ids[" + i + "] must be an integer");
      h[i] = ids.get(i).asLong();
    }
    int expected =
        (in.asInt() + TraceRecord.TRACE_BLOCK_TOKENS - 1) / TraceRecord.TRACE_BLOCK_TOKENS;
    if (h.length != expected) {
      throw new IllegalArgumentException(
          where
              + ": "
              + h.length
              + " hash_ids for input_length "
              + in.asInt()
              + " (expected "
              + expected
              + ", one per 512 tokens)");
    }
    return new TraceRecord(ts.asLong(), in.asInt(), out.asInt(), h, null, null);
  }
}
