package io.kvgate.sim;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import io.vertx.core.buffer.Buffer;
import java.io.IOException;

/**
 * A completion request body, validated against one engine: what the core needs to schedule it and
 * what the response needs to render it. {@link #parse} refuses a body with the error vLLM gives
 * (400 {@code BadRequestError}, 404 {@code NotFoundError} for another model).
 *
 * @param tokens the prompt's token ids
 * @param blockHashes the hashes of the prompt's full blocks, the prefix cache's keys ({@link
 *     BlockKeys}: kvgate's chain for a text prompt, seeded with the model and {@code cache_salt})
 * @param maxTokens completion length: {@code max_completion_tokens}, else {@code max_tokens}, else
 *     the endpoint's default
 * @param remoteDecode {@code kv_transfer_params.do_remote_decode}: the prefill leg of a P/D request
 * @param remotePrefill the decode leg of a P/D request with every pull coordinate present
 * @param stream {@code stream}
 * @param includeUsage {@code stream_options.include_usage} on a streaming request
 * @param bootstrap the SGLang P/D leg this request is on a prefill or decode engine, or null (no
 *     bootstrap fields, or an engine with the {@link Role#BOTH} role, which ignores them)
 */
record CompletionRequest(
    int[] tokens,
    long[] blockHashes,
    int maxTokens,
    boolean remoteDecode,
    boolean remotePrefill,
    boolean stream,
    boolean includeUsage,
    Bootstrap bootstrap) {

  /** The largest {@code bootstrap_room}, 2^63 - 1 (SGLang draws rooms from [0, 2^63 - 1]). */
  static final long MAX_ROOM = Long.MAX_VALUE;

  /**
   * SGLang's bootstrap fields: where the prefill engine's bootstrap server is and which room the
   * two legs share.
   *
   * @param host {@code bootstrap_host}, or null if absent
   * @param port {@code bootstrap_port}, or null if absent or null (SGLang allows null)
   * @param room {@code bootstrap_room}
   */
  record Bootstrap(String host, Integer port, long room) {}

  /**
   * Parses and validates {@code body} of {@code POST /v1/chat/completions} ({@code chat}) or {@code
   * POST /v1/completions} for an engine configured as {@code config}.
   */
  static CompletionRequest parse(Buffer body, boolean chat, SimEngineConfig config)
      throws ApiError {
    JsonNode root;
    try {
      root = CompletionResponse.JSON.readTree(body.getBytes());
    } catch (IOException e) {
      throw new ApiError(
          400,
          "BadRequestError",
          null,
          "malformed JSON body: "
              + (e instanceof JsonProcessingException j ? j.getOriginalMessage() : e.getMessage()));
    }
    if (root == null || !root.isObject()) {
      throw new ApiError(400, "BadRequestError", null, "the request body must be a JSON object");
    }
    JsonNode model = root.get("model");
    if (model == null || !model.isTextual()) {
      throw new ApiError(
          400, "BadRequestError", "model", "'model' is required; see GET /v1/models");
    }
    if (!model.asText().equals(config.model())) {
      throw new ApiError(
          404, "NotFoundError", "model", "The model `" + model.asText() + "` does not exist.");
    }
    String cacheSalt = cacheSalt(root);
    long seed = BlockKeys.seed(config.model(), cacheSalt);
    int[] tokens;
    long[] blockHashes;
    try {
      JsonNode prompt = chat ? null : root.get("prompt");
      String text =
          chat ? PromptTokenizer.renderChat(root.get("messages")) : completionPromptText(prompt);
      if (text != null) {
        tokens = PromptTokenizer.encode(text);
        blockHashes = BlockKeys.ofText(text, config.blockSizeTokens(), seed);
      } else {
        tokens = completionPromptIds(prompt);
        blockHashes = BlockKeys.ofTokens(tokens, config.blockSizeTokens(), seed);
      }
    } catch (IllegalArgumentException e) {
      throw new ApiError(400, "BadRequestError", chat ? "messages" : "prompt", e.getMessage());
    }
    int n = tokens.length;
    if (n == 0) {
      throw new ApiError(
          400, "BadRequestError", chat ? "messages" : "prompt", "the prompt is empty");
    }
    Integer requested;
    try {
      requested = intField(root, "max_completion_tokens");
      if (requested == null) requested = intField(root, "max_tokens");
    } catch (IllegalArgumentException e) {
      throw new ApiError(400, "BadRequestError", "max_tokens", e.getMessage());
    }
    if (requested != null && requested < 1) {
      throw new ApiError(
          400, "BadRequestError", "max_tokens", "max_tokens must be at least 1, got " + requested);
    }
    int maxTokens;
    if (requested != null) maxTokens = requested;
    else if (chat)
      maxTokens = Math.max(1, Math.min(config.defaultChatMaxTokens(), config.maxModelLen() - n));
    else maxTokens = 16;
    if (n + maxTokens > config.maxModelLen()) {
      throw new ApiError(
          400,
          "BadRequestError",
          null,
          "This model's maximum context length is "
              + config.maxModelLen()
              + " tokens. However, you requested "
              + (n + maxTokens)
              + " tokens ("
              + n
              + " in the messages, "
              + maxTokens
              + " in the completion). Please reduce the length of the messages or completion.");
    }
    int blocks = SimRequest.blocksNeeded(n, maxTokens, config.blockSizeTokens());
    if (blocks > config.capacityBlocks()) {
      throw new ApiError(
          400,
          "BadRequestError",
          null,
          "the request needs "
              + blocks
              + " KV blocks but the engine has "
              + config.capacityBlocks()
              + "; shorten the prompt or max_tokens");
    }
    Bootstrap bootstrap = bootstrap(root, config.role());
    if (bootstrap != null && config.role() == Role.PREFILL) {
      // an SGLang prefill server only prefills: one token, whatever max_tokens says
      maxTokens = 1;
    }
    boolean remoteDecode = false;
    boolean remotePrefill = false;
    JsonNode kv = root.get("kv_transfer_params");
    if (bootstrap != null && kv != null && !kv.isNull()) {
      throw new ApiError(
          400,
          "BadRequestError",
          "kv_transfer_params",
          "kv_transfer_params (vLLM) and bootstrap_room (SGLang) are two P/D protocols; send one");
    }
    if (kv != null && kv.isObject()) {
      remoteDecode = kv.path("do_remote_decode").asBoolean(false);
      boolean wantsRemotePrefill = kv.path("do_remote_prefill").asBoolean(false);
      if (remoteDecode && config.role() == Role.DECODE) {
        throw new ApiError(
            400,
            "BadRequestError",
            "kv_transfer_params",
            "this engine has the decode role; send do_remote_decode (prefill leg) requests to a prefill engine");
      }
      if (wantsRemotePrefill && config.role() == Role.PREFILL) {
        throw new ApiError(
            400,
            "BadRequestError",
            "kv_transfer_params",
            "this engine has the prefill role; send do_remote_prefill (decode leg) requests to a decode engine");
      }
      // vLLM: "Got invalid KVTransferParams" unless every pull coordinate is present; then it
      // computes locally.
      remotePrefill =
          wantsRemotePrefill
              && present(kv, "remote_block_ids")
              && present(kv, "remote_engine_id")
              && present(kv, "remote_request_id")
              && present(kv, "remote_host")
              && present(kv, "remote_port");
    }
    boolean stream = root.path("stream").asBoolean(false);
    boolean includeUsage =
        stream && root.path("stream_options").path("include_usage").asBoolean(false);
    return new CompletionRequest(
        tokens,
        blockHashes,
        maxTokens,
        remoteDecode,
        remotePrefill,
        stream,
        includeUsage,
        bootstrap);
  }

  /**
   * Validates the types of {@code bootstrap_host} (string), {@code bootstrap_port} (integer port or
   * null) and {@code bootstrap_room} (integer in [0, 2^63 - 1]) on every engine; returns them for a
   * prefill or decode engine if any is present (then {@code bootstrap_room} is required), else
   * null.
   */
  private static Bootstrap bootstrap(JsonNode root, Role role) throws ApiError {
    JsonNode host = root.get("bootstrap_host");
    JsonNode port = root.get("bootstrap_port");
    JsonNode room = root.get("bootstrap_room");
    boolean hasHost = host != null && !host.isNull();
    boolean hasPort = port != null && !port.isNull();
    boolean hasRoom = room != null && !room.isNull();
    if (hasHost && !host.isTextual()) {
      throw new ApiError(
          400, "BadRequestError", "bootstrap_host", "bootstrap_host must be a string");
    }
    if (hasPort && !(port.isIntegralNumber() && port.canConvertToInt())
        || hasPort && (port.asInt() < 1 || port.asInt() > 65535)) {
      throw new ApiError(
          400,
          "BadRequestError",
          "bootstrap_port",
          "bootstrap_port must be an integer port number (1..65535) or null");
    }
    if (hasRoom && !(room.isIntegralNumber() && room.canConvertToLong() && room.asLong() >= 0)) {
      throw new ApiError(
          400,
          "BadRequestError",
          "bootstrap_room",
          "bootstrap_room must be an integer in [0, " + MAX_ROOM + "]");
    }
    if (role == Role.BOTH || !(hasHost || hasPort || hasRoom)) return null;
    if (!hasRoom) {
      throw new ApiError(
          400,
          "BadRequestError",
          "bootstrap_room",
          "bootstrap_room is required with bootstrap_host and bootstrap_port");
    }
    return new Bootstrap(
        hasHost ? host.asText() : null, hasPort ? port.asInt() : null, room.asLong());
  }

  private static boolean present(JsonNode kv, String field) {
    JsonNode v = kv.get(field);
    return v != null && !v.isNull();
  }

  private static Integer intField(JsonNode root, String field) {
    JsonNode v = root.get(field);
    if (v == null || v.isNull()) return null;
    if (!v.canConvertToInt()) throw new IllegalArgumentException(field + " must be an integer");
    return v.asInt();
  }

  /**
   * vLLM's {@code cache_salt}: a non-empty string, or absent (null). It seeds the block hashes, so
   * requests with different salts never share cached blocks.
   */
  private static String cacheSalt(JsonNode root) throws ApiError {
    JsonNode salt = root.get("cache_salt");
    if (salt == null || salt.isNull()) return null;
    if (!salt.isTextual() || salt.asText().isEmpty()) {
      throw new ApiError(
          400,
          "BadRequestError",
          "cache_salt",
          "Parameter 'cache_salt' must be a non-empty string if provided.");
    }
    return salt.asText();
  }

  /**
   * The text of a completion prompt given as a string or an array of one string, or null if it is
   * given as token ids ({@link #completionPromptIds}).
   */
  private static String completionPromptText(JsonNode prompt) {
    if (prompt == null || prompt.isNull())
      throw new IllegalArgumentException("'prompt' is required");
    if (prompt.isTextual()) return prompt.asText();
    if (prompt.isArray()) {
      if (prompt.isEmpty()) throw new IllegalArgumentException("'prompt' is empty");
      JsonNode first = prompt.get(0);
      if (first.isInt()) return null;
      if (prompt.size() != 1) {
        throw new IllegalArgumentException(
            "batched prompts are not simulated; send one prompt per request");
      }
      return first.isTextual() ? first.asText() : null;
    }
    throw new IllegalArgumentException(
        "'prompt' must be a string, an array of token ids, or an array of one string");
  }

  /** The token ids of a prompt {@link #completionPromptText} found not to be text. */
  private static int[] completionPromptIds(JsonNode prompt) {
    JsonNode first = prompt.get(0);
    return first.isInt() ? tokenIds(prompt) : tokenIds(first);
  }

  private static int[] tokenIds(JsonNode array) {
    if (!array.isArray())
      throw new IllegalArgumentException("'prompt' must contain strings or token id arrays");
    int[] ids = new int[array.size()];
    for (int i = 0; i < ids.length; i++) {
      JsonNode t = array.get(i);
      if (!t.isInt() || t.asInt() < 0)
        throw new IllegalArgumentException("token ids must be non-negative integers");
      ids[i] = t.asInt();
    }
    return ids;
  }
}
