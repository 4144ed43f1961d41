package io.kvgate.sim;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpServerResponse;
import java.nio.charset.StandardCharsets;

/**
 * One completion's HTTP response, rendered as its tokens are generated: SSE chunks ({@code
 * chat.completion.chunk} or {@code text_completion}, then {@code data: [DONE]}) when streaming,
 * else one {@code chat.completion} / {@code text_completion} JSON body. Token chunks are a
 * per-request pre-rendered prefix, a pre-encoded filler word and a pre-encoded tail. Owned by the
 * engine's event loop.
 */
final class CompletionResponse implements SimRequest.Sink {

  /** The mapper for every JSON body the engine reads or sends. */
  static final ObjectMapper JSON = new ObjectMapper();

  private static final byte[] DONE = utf8("data: [DONE]\n\n");
  // chunk tails, pre-encoded: a token chunk is prefix (per request) + word + one of these
  private static final byte[] CHAT_SUFFIX =
      utf8("\"},\"logprobs\":null,\"finish_reason\":null}]}\n\n");
  private static final byte[] CHAT_LAST_SUFFIX =
      utf8("\"},\"logprobs\":null,\"finish_reason\":\"length\",\"stop_reason\":null}]}\n\n");
  private static final byte[] TEXT_SUFFIX =
      utf8("\",\"logprobs\":null,\"finish_reason\":null,\"stop_reason\":null}]}\n\n");
  private static final byte[] TEXT_LAST_SUFFIX =
      utf8("\",\"logprobs\":null,\"finish_reason\":\"length\",\"stop_reason\":null}]}\n\n");
  private static final String[] WORD_TEXT =
      ("the a of to and in is that it for on with as was at by an be this from"
              + " or are which have not had but were one all we when there can been has more if will no so"
              + " out up what about into time than them some could only other new these two may first then"
              + " do any like now my such over also back after use our work well way even because good")
          .split(" ");
  private static final byte[][] WORDS = new byte[WORD_TEXT.length][];

  static {
    for (int i = 0; i < WORD_TEXT.length; i++) {
      WORDS[i] = (" " + WORD_TEXT[i]).getBytes(StandardCharsets.UTF_8);
    }
  }

  private static byte[] utf8(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  private final SimEngine engine;
  private final HttpServerResponse resp;
  private final boolean chat;
  private final boolean stream;
  private final boolean includeUsage;
  private final boolean remoteDecode;
  private final String id;
  private final FaultInjector.StreamOut out;
  private final long created = System.currentTimeMillis() / 1000;
  private byte[] chunkPrefix;
  private StringBuilder text;
  private boolean done;

  /**
   * @param engine the engine answering (model name, engine id and address for P/D responses)
   * @param id the response id, {@code chatcmpl-...} or {@code cmpl-...}
   * @param out where streamed chunks go
   */
  CompletionResponse(
      SimEngine engine,
      HttpServerResponse resp,
      boolean chat,
      boolean stream,
      boolean includeUsage,
      boolean remoteDecode,
      String id,
      FaultInjector.StreamOut out) {
    this.engine = engine;
    this.resp = resp;
    this.chat = chat;
    this.stream = stream;
    this.includeUsage = includeUsage;
    this.remoteDecode = remoteDecode;
    this.id = id;
    this.out = out;
  }

  /**
   * The client closed the connection: true if the response was not complete yet, so the request is
   * to be aborted (true at most once).
   */
  boolean closedEarly() {
    if (done) return false;
    done = true;
    return true;
  }

  @Override
  public void onToken(SimRequest r, int index, boolean last, long nowNanos) {
    byte[] word = WORDS[(int) ((r.seq * 31 + index * 7L) % WORDS.length)];
    if (!stream) {
      if (text == null) text = new StringBuilder(r.maxTokens * 6);
      text.append(new String(word, StandardCharsets.UTF_8));
      if (last) finishJson(r);
      return;
    }
    if (resp.closed()) return; // the close handler is about to abort this request
    if (index == 0) startStream();
    Buffer b =
        Buffer.buffer(
            chunkPrefix.length + word.length + CHAT_LAST_SUFFIX.length + (last ? 512 : 0));
    b.appendBytes(chunkPrefix).appendBytes(word);
    b.appendBytes(
        chat ? (last ? CHAT_LAST_SUFFIX : CHAT_SUFFIX) : (last ? TEXT_LAST_SUFFIX : TEXT_SUFFIX));
    if (last) {
      done = true;
      if (includeUsage) {
        ObjectNode u =
            JSON.createObjectNode()
                .put("id", id)
                .put("object", chat ? "chat.completion.chunk" : "text_completion")
                .put("created", created)
                .put("model", engine.config().model());
        u.putArray("choices");
        u.set("usage", usage(r));
        b.appendString("data: ").appendString(u.toString()).appendString("\n\n");
      }
      b.appendBytes(DONE);
    }
    out.write(b, last);
  }

  private void startStream() {
    String head =
        "data: {\"id\":\""
            + id
            + "\",\"object\":\""
            + (chat ? "chat.completion.chunk" : "text_completion")
            + "\",\"created\":"
            + created
            + ",\"model\":"
            + JSON.getNodeFactory().textNode(engine.config().model())
            + ",\"choices\":[{\"index\":0,";
    chunkPrefix =
        (head + (chat ? "\"delta\":{\"content\":\"" : "\"text\":\""))
            .getBytes(StandardCharsets.UTF_8);
    resp.setChunked(true)
        .putHeader("content-type", "text/event-stream; charset=utf-8")
        .putHeader("cache-control", "no-cache");
    if (chat) {
      out.write(
          Buffer.buffer(
              head
                  + "\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"logprobs\":null,\"finish_reason\":null}]}\n\n"),
          false);
    }
  }

  private void finishJson(SimRequest r) {
    done = true;
    ObjectNode o =
        JSON.createObjectNode()
            .put("id", id)
            .put("object", chat ? "chat.completion" : "text_completion")
            .put("created", created)
            .put("model", engine.config().model());
    ArrayNode choices = o.putArray("choices");
    ObjectNode c = choices.addObject().put("index", 0);
    if (chat) {
      ObjectNode m =
          c.putObject("message").put("role", "assistant").put("content", text.toString());
      m.putNull("refusal");
      m.putArray("tool_calls");
    } else {
      c.put("text", text.toString());
    }
    c.putNull("logprobs");
    c.put("finish_reason", "length");
    c.putNull("stop_reason");
    o.set("usage", usage(r));
    o.putNull("prompt_logprobs");
    if (remoteDecode) {
      ObjectNode kv =
          o.putObject("kv_transfer_params")
              .put("do_remote_prefill", true)
              .put("do_remote_decode", false);
      // the incompleteKvTransfer fault leaves the block ids out, as a misconfigured connector does
      if (!engine.config().faults().incompleteKvTransfer()) {
        ArrayNode ids = kv.putArray("remote_block_ids");
        int promptBlocks =
            (r.promptTokens() + engine.config().blockSizeTokens() - 1)
                / engine.config().blockSizeTokens();
        for (int i = 0; i < promptBlocks; i++) ids.add(r.blocks[i]);
      }
      kv.put("remote_engine_id", engine.engineId())
          .put("remote_request_id", id)
          .put("remote_host", engine.config().host())
          .put("remote_port", engine.port())
          .put("tp_size", 1)
          .put("remote_num_tokens", r.promptTokens())
          .put("transfer_mode", "pull");
    } else {
      o.putNull("kv_transfer_params");
    }
    sendJson(resp, 200, o);
  }

  private ObjectNode usage(SimRequest r) {
    ObjectNode u =
        JSON.createObjectNode()
            .put("prompt_tokens", r.promptTokens())
            .put("total_tokens", r.promptTokens() + r.generated)
            .put("completion_tokens", r.generated);
    u.putObject("prompt_tokens_details").put("cached_tokens", r.cachedTokens + r.transferredTokens);
    return u;
  }

  /** Sends {@code body} as the response (nothing if the response is already closed or ended). */
  static void sendJson(HttpServerResponse resp, int status, JsonNode body) {
    if (resp.closed() || resp.ended()) return;
    try {
      resp.setStatusCode(status)
          .putHeader("content-type", "application/json")
          .end(Buffer.buffer(JSON.writeValueAsBytes(body)));
    } catch (JsonProcessingException e) {
      throw new IllegalStateException(e);
    }
  }
}
