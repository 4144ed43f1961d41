package io.kvgate.gateway.batch;

import io.vertx.core.json.DecodeException;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Folds the event payloads of an OpenAI-compatible streamed completion (OpenAI, vLLM, SGLang:
 * {@code chat.completion.chunk} objects for {@code /v1/chat/completions}, {@code text_completion}
 * chunks for {@code /v1/completions}, then {@code [DONE]}) into the body the same request returns
 * when not streamed.
 *
 * <p>The top-level {@code id}, {@code created}, {@code model}, {@code system_fingerprint} and
 * {@code service_tier} come from the first chunk that has them; {@code usage} from the last chunk
 * with a non-null one (the {@code include_usage} chunk, whose {@code choices} are empty). Choices
 * merge by {@code index} and come out sorted by it. A chat choice's {@code message} has the {@code
 * role} (default {@code "assistant"}), the concatenated {@code content} ({@code null} when no
 * content arrived but tool calls did), the concatenated {@code reasoning_content} / {@code
 * reasoning} (vLLM) and {@code refusal} when any arrived, and the {@code tool_calls} merged by
 * their {@code index} ({@code id} and {@code type} from the first delta that has them, {@code
 * function.name} and {@code function.arguments} concatenated). A completion choice has the
 * concatenated {@code text}. Every choice has {@code logprobs}, its array fields ({@code content}
 * for chat; {@code tokens}, {@code token_logprobs}, {@code top_logprobs}, {@code text_offset} for
 * completions) concatenated ({@code null} when no chunk had any), and the last non-null {@code
 * finish_reason}; a {@code stop_reason} (vLLM) appears when a chunk carried one, as the last
 * non-null value.
 *
 * <p>An error payload mid-stream ({@code {"error": {...}}}, {@code {"error": "message"}}, or an
 * object whose {@code object} is {@code "error"}) is kept as {@link #error()}. Keeps one {@link
 * StringBuilder} per text field of a choice and the payloads' own logprobs entries; not
 * thread-safe.
 */
public final class StreamAssembler {

  private static final String DONE = "[DONE]";

  private final boolean chat;
  private final List<Choice> choices = new ArrayList<>(1);
  private Object id;
  private Object created;
  private Object model;
  private Object systemFingerprint;
  private Object serviceTier;
  private JsonObject usage;
  private JsonObject error;
  private boolean started;
  private boolean done;

  /**
   * @param chat true for a {@code /v1/chat/completions} stream, false for {@code /v1/completions}
   */
  public StreamAssembler(boolean chat) {
    this.chat = chat;
  }

  /**
   * Takes the next event's data.
   *
   * @throws IllegalArgumentException if {@code payload} is neither {@code [DONE]} nor a JSON object
   */
  public void onData(String payload) {
    if (DONE.equals(payload) || DONE.equals(payload.strip())) {
      done = true;
      return;
    }
    JsonObject o;
    try {
      o = new JsonObject(payload);
    } catch (DecodeException | ClassCastException e) {
      throw new IllegalArgumentException("not a JSON object: " + abbreviate(payload), e);
    }
    Object err = o.getValue("error");
    if (err instanceof JsonObject e) {
      error = e;
      return;
    }
    if (err instanceof String message) {
      error = new JsonObject().put("message", message);
      return;
    }
    if ("error".equals(o.getValue("object"))) {
      error = o;
      return;
    }
    if (id == null) id = o.getValue("id");
    if (created == null) created = o.getValue("created");
    if (model == null) model = o.getValue("model");
    if (systemFingerprint == null) systemFingerprint = o.getValue("system_fingerprint");
    if (serviceTier == null) serviceTier = o.getValue("service_tier");
    if (o.getValue("usage") instanceof JsonObject u) usage = u;
    if (!(o.getValue("choices") instanceof JsonArray cs)) return;
    for (int i = 0, n = cs.size(); i < n; i++) {
      if (cs.getValue(i) instanceof JsonObject c) choice(c, i);
    }
  }

  /** True once a chunk carried a choice with a delta (chat) or a text (completions). */
  public boolean started() {
    return started;
  }

  /** True once the {@code [DONE]} payload arrived. */
  public boolean done() {
    return done;
  }

  /** The error object a payload carried, null when none did. */
  public JsonObject error() {
    return error;
  }

  /** The non-streamed body assembled from the payloads so far (a new object on each call). */
  public JsonObject result() {
    JsonObject o = new JsonObject();
    o.put("id", id);
    o.put("object", chat ? "chat.completion" : "text_completion");
    o.put("created", created);
    o.put("model", model);
    if (systemFingerprint != null) o.put("system_fingerprint", systemFingerprint);
    if (serviceTier != null) o.put("service_tier", serviceTier);
    List<Choice> sorted = new ArrayList<>(choices);
    sorted.sort((a, b) -> Integer.compare(a.index, b.index));
    JsonArray cs = new JsonArray(new ArrayList<>(sorted.size()));
    for (Choice c : sorted) cs.add(chat ? c.chatJson() : c.textJson());
    o.put("choices", cs);
    o.put("usage", usage);
    return o;
  }

  private void choice(JsonObject c, int position) {
    int index = c.getValue("index") instanceof Number n ? n.intValue() : position;
    Choice ch = find(index);
    if (chat) {
      if (c.getValue("delta") instanceof JsonObject d) {
        started = true;
        ch.delta(d);
      }
    } else if (c.getValue("text") instanceof String t) {
      started = true;
      ch.append(t);
    }
    if (c.getValue("logprobs") instanceof JsonObject lp) ch.logprobs(lp);
    Object finish = c.getValue("finish_reason");
    if (finish != null) ch.finishReason = finish;
    if (c.containsKey("stop_reason")) {
      ch.hasStopReason = true;
      Object stop = c.getValue("stop_reason");
      if (stop != null) ch.stopReason = stop;
    }
  }

  private Choice find(int index) {
    for (int i = choices.size() - 1; i >= 0; i--) {
      Choice c = choices.get(i);
      if (c.index == index) return c;
    }
    Choice c = new Choice(index);
    choices.add(c);
    return c;
  }

  private static String abbreviate(String s) {
    return s.length() <= 200 ? s : s.substring(0, 200) + "...";
  }

  private static StringBuilder append(StringBuilder sb, Object v) {
    if (!(v instanceof String s)) return sb;
    if (sb == null) sb = new StringBuilder(s.length() + 64);
    return sb.append(s);
  }

  private static String text(StringBuilder sb) {
    return sb == null ? null : sb.toString();
  }

  /** One choice's state. */
  private static final class Choice {
    final int index;
    Object role;
    StringBuilder content;
    StringBuilder reasoningContent;
    StringBuilder reasoning;
    StringBuilder refusal;
    List<ToolCall> toolCalls;
    JsonObject logprobs;
    Object finishReason;
    Object stopReason;
    boolean hasStopReason;

    Choice(int index) {
      this.index = index;
    }

    void append(String t) {
      content = StreamAssembler.append(content, t);
    }

    void delta(JsonObject d) {
      if (role == null) role = d.getValue("role");
      content = StreamAssembler.append(content, d.getValue("content"));
      reasoningContent = StreamAssembler.append(reasoningContent, d.getValue("reasoning_content"));
      reasoning = StreamAssembler.append(reasoning, d.getValue("reasoning"));
      refusal = StreamAssembler.append(refusal, d.getValue("refusal"));
      if (d.getValue("tool_calls") instanceof JsonArray tcs) {
        for (int i = 0, n = tcs.size(); i < n; i++) {
          if (tcs.getValue(i) instanceof JsonObject tc) toolCall(tc, i);
        }
      }
    }

    private void toolCall(JsonObject tc, int position) {
      int idx = tc.getValue("index") instanceof Number n ? n.intValue() : position;
      if (toolCalls == null) toolCalls = new ArrayList<>(1);
      ToolCall call = null;
      for (ToolCall t : toolCalls) {
        if (t.index == idx) {
          call = t;
          break;
        }
      }
      if (call == null) {
        call = new ToolCall(idx);
        toolCalls.add(call);
      }
      if (call.id == null) call.id = tc.getValue("id");
      if (call.type == null) call.type = tc.getValue("type");
      if (tc.getValue("function") instanceof JsonObject f) {
        call.name = StreamAssembler.append(call.name, f.getValue("name"));
        call.arguments = StreamAssembler.append(call.arguments, f.getValue("arguments"));
      }
    }

    /** Concatenates the array fields; any other field keeps its last value. */
    void logprobs(JsonObject lp) {
      if (logprobs == null) logprobs = new JsonObject();
      for (Map.Entry<String, Object> e : lp) {
        Object v = e.getValue();
        Object have = logprobs.getValue(e.getKey());
        if (v instanceof JsonArray a) {
          if (have instanceof JsonArray h) h.addAll(a);
          else logprobs.put(e.getKey(), a); // the payload's own array, parsed for this call only
        } else if (v != null || !logprobs.containsKey(e.getKey())) {
          if (!(have instanceof JsonArray)) logprobs.put(e.getKey(), v);
        }
      }
    }

    JsonObject chatJson() {
      JsonObject m = new JsonObject();
      m.put("role", role != null ? role : "assistant");
      m.put(
          "content",
          content == null && toolCalls != null ? null : content == null ? "" : text(content));
      if (reasoningContent != null) m.put("reasoning_content", text(reasoningContent));
      if (reasoning != null) m.put("reasoning", text(reasoning));
      if (refusal != null) m.put("refusal", text(refusal));
      if (toolCalls != null) {
        List<ToolCall> sorted = new ArrayList<>(toolCalls);
        sorted.sort((a, b) -> Integer.compare(a.index, b.index));
        JsonArray tcs = new JsonArray(new ArrayList<>(sorted.size()));
        for (ToolCall t : sorted) tcs.add(t.json());
        m.put("tool_calls", tcs);
      }
      JsonObject c = new JsonObject().put("index", index).put("message", m);
      return tail(c);
    }

    JsonObject textJson() {
      JsonObject c =
          new JsonObject().put("index", index).put("text", content == null ? "" : text(content));
      return tail(c);
    }

    private JsonObject tail(JsonObject c) {
      c.put("logprobs", logprobs == null ? null : shallowCopy(logprobs));
      c.put("finish_reason", finishReason);
      if (hasStopReason) c.put("stop_reason", stopReason);
      return c;
    }
  }

  /**
   * A copy of the logprobs sharing their entries, so that later chunks do not change a result
   * already handed out.
   */
  private static JsonObject shallowCopy(JsonObject lp) {
    JsonObject o = new JsonObject();
    for (Map.Entry<String, Object> e : lp) {
      Object v = e.getValue();
      o.put(
          e.getKey(),
          v instanceof JsonArray a ? new JsonArray(new ArrayList<>(a.size())).addAll(a) : v);
    }
    return o;
  }

  /** One tool call's state. */
  private static final class ToolCall {
    final int index;
    Object id;
    Object type;
    StringBuilder name;
    StringBuilder arguments;

    ToolCall(int index) {
      this.index = index;
    }

    JsonObject json() {
      JsonObject t = new JsonObject();
      if (id != null) t.put("id", id);
      t.put("type", type != null ? type : "function");
      t.put(
          "function",
          new JsonObject()
              .put("name", name == null ? "" : text(name))
              .put("arguments", arguments == null ? "" : text(arguments)));
      return t;
    }
  }
}
