package io.kvgate.gateway.proxy;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import io.kvgate.gateway.openai.OpenAiException;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.json.JsonObject;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.Set;

/**
 * The bodies of disaggregated legs, built from the client's bytes without parsing its prompt into a
 * tree: the vLLM prefill leg's body is a streaming copy with a few top-level fields replaced; the
 * others are the client's body with fields appended before its closing brace (the client cannot
 * send them: {@link #RESERVED} are refused at parse).
 */
public final class PdBodies {

  /**
   * Fields kvgate's disaggregated serving sets and a client must not: they would let a client
   * choose where an engine pulls KV blocks from.
   */
  public static final Set<String> RESERVED =
      Set.of("kv_transfer_params", "bootstrap_host", "bootstrap_port", "bootstrap_room");

  /** Top-level fields the vLLM prefill leg drops from the client's body (and sets itself). */
  private static final Set<String> PREFILL_DROPPED =
      Set.of(
          "stream",
          "stream_options",
          "max_tokens",
          "max_completion_tokens",
          "min_tokens",
          "min_completion_tokens",
          "kv_transfer_params");

  /** What a vLLM prefill leg asks the NixlConnector for (vLLM's toy proxy sends exactly this). */
  private static final String PREFILL_PARAMS =
      "{\"do_remote_decode\":true,\"do_remote_prefill\":false,\"remote_engine_id\":null,"
          + "\"remote_block_ids\":null,\"remote_host\":null,\"remote_port\":null}";

  /** The fields a decode engine needs to pull the prompt's KV instead of recomputing it. */
  public static final java.util.List<String> DECODE_NEEDS =
      java.util.List.of(
          "remote_engine_id",
          "remote_block_ids",
          "remote_request_id",
          "remote_host",
          "remote_port");

  private static final JsonFactory JSON = new JsonFactory();

  private PdBodies() {}

  /** Refuses a client body that sets a field in {@link #RESERVED}. */
  public static void checkNotReserved(com.fasterxml.jackson.databind.JsonNode body) {
    for (String f : RESERVED) {
      if (body.has(f)) {
        throw OpenAiException.badRequest(
            f,
            "'" + f + "' is set by kvgate's disaggregated serving and cannot be sent by a client");
      }
    }
  }

  /**
   * The vLLM prefill leg: the client's body with {@code stream: false}, {@code max_tokens: 1},
   * {@code max_completion_tokens: 1}, no {@code stream_options}, {@code min_tokens} or {@code
   * min_completion_tokens} (vLLM's prefill side does not support them), and {@code
   * kv_transfer_params} asking for a remote decode.
   */
  public static Buffer vllmPrefill(Buffer raw) {
    ByteArrayOutputStream out = new ByteArrayOutputStream(raw.length() + 256);
    try (JsonParser p = JSON.createParser(raw.getBytes());
        JsonGenerator g = JSON.createGenerator(out)) {
      if (p.nextToken() != JsonToken.START_OBJECT) {
        throw new IllegalArgumentException("body is not a JSON object");
      }
      g.writeStartObject();
      while (p.nextToken() == JsonToken.FIELD_NAME) {
        String name = p.currentName();
        p.nextToken();
        if (PREFILL_DROPPED.contains(name)) {
          p.skipChildren();
          continue;
        }
        g.writeFieldName(name);
        g.copyCurrentStructure(p);
      }
      g.writeBooleanField("stream", false);
      g.writeNumberField("max_tokens", 1);
      g.writeNumberField("max_completion_tokens", 1);
      g.writeFieldName("kv_transfer_params");
      g.writeRawValue(PREFILL_PARAMS);
      g.writeEndObject();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return Buffer.buffer(out.toByteArray());
  }

  /**
   * The vLLM decode leg: the client's body plus the prefill answer's {@code kv_transfer_params}.
   */
  public static Buffer vllmDecode(Buffer raw, JsonObject kvTransferParams) {
    return append(raw, ",\"kv_transfer_params\":" + kvTransferParams.encode());
  }

  /** Both SGLang legs: the client's body plus the bootstrap fields. */
  public static Buffer sglang(Buffer raw, String host, Integer port, long room) {
    return append(
        raw,
        ",\"bootstrap_host\":"
            + new io.vertx.core.json.JsonArray().add(host).encode().replaceAll("^\\[|\\]$", "")
            + ",\"bootstrap_port\":"
            + (port == null ? "null" : port.toString())
            + ",\"bootstrap_room\":"
            + room);
  }

  /** {@code raw} with {@code fragment} inserted before its closing brace. */
  static Buffer append(Buffer raw, String fragment) {
    int end = raw.length() - 1;
    while (end >= 0 && raw.getByte(end) != '}') end--;
    if (end < 0) throw new IllegalArgumentException("body is not a JSON object");
    byte[] f = fragment.getBytes(StandardCharsets.UTF_8);
    Buffer out = Buffer.buffer(raw.length() + f.length);
    out.appendBuffer(raw, 0, end);
    // An empty object takes the fields without the leading comma.
    int before = end - 1;
    while (before >= 0 && Character.isWhitespace(raw.getByte(before))) before--;
    if (before >= 0 && raw.getByte(before) == '{') out.appendBytes(f, 1, f.length - 1);
    else out.appendBytes(f);
    out.appendBuffer(raw, end, raw.length() - end);
    return out;
  }

  /**
   * The fields of {@link #DECODE_NEEDS} missing (absent or null) from a prefill answer's {@code
   * kv_transfer_params}; all of them when it has none.
   */
  public static java.util.List<String> missingForDecode(JsonObject params) {
    if (params == null) return DECODE_NEEDS;
    java.util.List<String> missing = new java.util.ArrayList<>();
    for (String f : DECODE_NEEDS) if (params.getValue(f) == null) missing.add(f);
    return missing;
  }
}
