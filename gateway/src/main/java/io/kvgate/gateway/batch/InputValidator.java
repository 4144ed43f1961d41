package io.kvgate.gateway.batch;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * Checks a batch input file as OpenAI does before a batch starts: every line a JSON object with a
 * string {@code custom_id} (unique in the file), {@code method} POST, the batch's {@code url} and
 * an object {@code body} naming one {@code model} for the whole file; at most {@code maxLines}
 * lines. A file that breaks any of these fails the batch, with the problems listed in OpenAI's
 * {@code errors} shape ({@code code}, {@code message}, {@code param}, {@code line}). What a body
 * asks of the model is not checked here: a body the gateway or the engine refuses ends as that
 * line's error record, not as a failed batch.
 *
 * <p>Valid lines get their dispatch order: sorted by the first {@value #HEAD_CHARS} characters of
 * their prompt, so that lines sharing a prefix are sent one after another, to where it is warm.
 * Blocking file I/O: runs on a worker thread.
 */
final class InputValidator {

  /** Characters of a prompt's head that order lines (longer shared prefixes share it too). */
  static final int HEAD_CHARS = 512;

  /** Problems listed at most, as OpenAI lists the first ones. */
  static final int MAX_ERRORS = 100;

  private static final ObjectMapper JSON = new ObjectMapper();

  private InputValidator() {}

  /**
   * The outcome: the lines in dispatch order and their model, or the problems (then {@code lines}
   * is empty).
   */
  record Result(List<BatchStore.LineRow> lines, String model, JsonArray errors) {
    boolean failed() {
      return !errors.isEmpty();
    }
  }

  static Result validate(Path file, String endpoint, int maxLines) throws IOException {
    List<Parsed> ok = new ArrayList<>();
    JsonArray errors = new JsonArray();
    Set<String> ids = new HashSet<>();
    String model = null;
    int lineNo = 0;
    int requests = 0;
    try (InputStream in = new BufferedInputStream(Files.newInputStream(file), 1 << 16)) {
      ByteArrayOutputStream line = new ByteArrayOutputStream(4096);
      long offset = 0;
      long start = 0;
      int b;
      boolean eof = false;
      while (!eof) {
        b = in.read();
        if (b < 0) eof = true;
        if (b >= 0 && b != '\n') {
          line.write(b);
          offset++;
          continue;
        }
        byte[] bytes = line.toByteArray();
        long lineStart = start;
        if (b == '\n') offset++;
        start = offset;
        line.reset();
        if (eof && bytes.length == 0) break;
        lineNo++;
        if (isBlank(bytes)) continue;
        requests++;
        if (requests > maxLines) continue;
        JsonNode n;
        try {
          n = JSON.readTree(bytes);
        } catch (IOException e) {
          n = null;
        }
        if (n == null || !n.isObject()) {
          error(
              errors,
              "invalid_json_line",
              "This line is not parseable as valid JSON.",
              null,
              lineNo);
          continue;
        }
        JsonNode id = n.get("custom_id");
        if (id == null || !id.isTextual()) {
          missing(errors, "custom_id", lineNo);
          continue;
        }
        JsonNode method = n.get("method");
        if (method == null || !method.isTextual()) {
          missing(errors, "method", lineNo);
          continue;
        }
        if (!method.asText().equals("POST")) {
          error(
              errors,
              "invalid_method",
              "The method '" + method.asText() + "' is not supported: requests use POST.",
              "method",
              lineNo);
          continue;
        }
        JsonNode url = n.get("url");
        if (url == null || !url.isTextual()) {
          missing(errors, "url", lineNo);
          continue;
        }
        if (!url.asText().equals(endpoint)) {
          error(
              errors,
              "invalid_url",
              "The URL provided for this request ('"
                  + url.asText()
                  + "') does not match the batch endpoint ('"
                  + endpoint
                  + "').",
              "url",
              lineNo);
          continue;
        }
        JsonNode body = n.get("body");
        if (body == null || !body.isObject()) {
          missing(errors, "body", lineNo);
          continue;
        }
        JsonNode m = body.get("model");
        if (m == null || !m.isTextual()) {
          missing(errors, "body.model", lineNo);
          continue;
        }
        if (model == null) model = m.asText();
        else if (!model.equals(m.asText())) {
          error(
              errors,
              "mismatched_model",
              "The model '"
                  + m.asText()
                  + "' does not match the model of the file's other requests ('"
                  + model
                  + "'): all requests of a batch use one model.",
              "body.model",
              lineNo);
          continue;
        }
        if (!ids.add(id.asText())) {
          error(
              errors,
              "duplicate_custom_id",
              "The custom_id '" + id.asText() + "' is used by an earlier line: it must be unique.",
              "custom_id",
              lineNo);
          continue;
        }
        ok.add(
            new Parsed(
                new BatchStore.LineRow(ok.size(), id.asText(), lineStart, bytes.length, 0),
                head(body)));
      }
    }
    if (requests > maxLines) {
      errors.add(
          new JsonObject()
              .put("code", "too_many_requests")
              .put(
                  "message",
                  "The input file holds "
                      + requests
                      + " requests; a batch may hold at most "
                      + maxLines
                      + ".")
              .putNull("param")
              .putNull("line"));
    } else if (requests == 0) {
      errors.add(
          new JsonObject()
              .put("code", "empty_file")
              .put("message", "The input file holds no requests.")
              .putNull("param")
              .putNull("line"));
    }
    while (errors.size() > MAX_ERRORS) errors.remove(errors.size() - 1);
    if (!errors.isEmpty()) return new Result(List.of(), model, errors);
    // Dispatch order: by prompt head, then file order.
    List<Parsed> sorted = new ArrayList<>(ok);
    sorted.sort(Comparator.comparing(Parsed::head).thenComparingInt(p -> p.line().idx()));
    List<BatchStore.LineRow> lines = new ArrayList<>(ok.size());
    for (Parsed p : ok) lines.add(null);
    for (int ord = 0; ord < sorted.size(); ord++) {
      BatchStore.LineRow l = sorted.get(ord).line();
      lines.set(
          l.idx(), new BatchStore.LineRow(l.idx(), l.customId(), l.offset(), l.length(), ord));
    }
    return new Result(lines, model, errors);
  }

  private record Parsed(BatchStore.LineRow line, String head) {}

  /** The first {@link #HEAD_CHARS} characters of what the body prompts the model with. */
  static String head(JsonNode body) {
    StringBuilder sb = new StringBuilder();
    JsonNode messages = body.get("messages");
    if (messages != null && messages.isArray()) {
      for (JsonNode msg : messages) {
        if (sb.length() >= HEAD_CHARS) break;
        sb.append(msg.path("role").asText()).append('\u0001');
        JsonNode c = msg.get("content");
        if (c != null && c.isTextual()) sb.append(c.asText());
        else if (c != null && c.isArray()) {
          for (JsonNode part : c) sb.append(part.path("text").asText());
        }
        sb.append('\u0002');
      }
    } else {
      JsonNode p = body.has("prompt") ? body.get("prompt") : body.get("input");
      if (p != null && p.isArray() && !p.isEmpty()) p = p.get(0);
      if (p != null && p.isTextual()) sb.append(p.asText());
    }
    return sb.length() > HEAD_CHARS ? sb.substring(0, HEAD_CHARS) : sb.toString();
  }

  private static boolean isBlank(byte[] b) {
    for (byte x : b) if (x != ' ' && x != '\t' && x != '\r') return false;
    return true;
  }

  private static void missing(JsonArray errors, String param, int line) {
    error(
        errors,
        "missing_required_parameter",
        "Missing required parameter: '" + param + "'.",
        param,
        line);
  }

  private static void error(JsonArray errors, String code, String message, String param, int line) {
    if (errors.size() >= MAX_ERRORS) return;
    errors.add(
        new JsonObject()
            .put("code", code)
            .put("message", message)
            .put("param", param)
            .put("line", line));
  }
}
