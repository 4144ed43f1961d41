package io.kvgate.gateway.openai;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.BooleanNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.NullNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufInputStream;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.internal.buffer.BufferInternal;
import java.io.IOException;

/**
 * Reads a request body in one streaming pass into a lean tree holding only the fields kvgate reads
 * (model, stream, token limits, cache_salt, user, and the prompt: messages, prompt, input,
 * instructions, text), counting as it goes and stopping at the first limit crossed. Every other
 * field, and every field of a message or content part that kvgate does not read, is tokenized (so
 * the body must still be valid JSON) but never built: the bytes go upstream as received, so nothing
 * is lost. The tree's size is therefore bounded by the limits, not by the body: a million tiny
 * messages fail at the first message over {@code maxMessages}, having built only that many.
 *
 * <p>Nesting depth, number length and string length are bounded by Jackson's {@code
 * StreamReadConstraints} defaults (1000 levels, 1000 digits, 20M chars), which the recursion here
 * relies on. Plain ASCII prompt strings are the exception: {@link JsonStrings} decodes them from
 * the body's bytes and the parser moves past them, so the body limit and {@code maxPromptChars}
 * bound them; every other value is Jackson's.
 */
final class BoundedJsonReader {

  private static final JsonFactory FACTORY = new PromptJsonFactory();

  private static final JsonNodeFactory NODES = JsonNodeFactory.instance;

  /** A field kvgate checks only for presence (a message's tool calls). */
  private static final JsonNode PRESENT = BooleanNode.TRUE;

  private final JsonParser p;
  private final OpenAiRequestParser.Bounds bounds;

  /** Decodes prompt strings when the parser reads a byte array (else null). */
  private final JsonStrings strings;

  private int messages;
  private int parts;
  private long promptChars;
  private long values;

  /** The top-level field being read (the {@code param} of a limit's error). */
  private String field;

  private BoundedJsonReader(JsonParser p, OpenAiRequestParser.Bounds bounds) {
    this.p = p;
    this.bounds = bounds;
    this.strings = p instanceof PromptJsonFactory.Parser ? new JsonStrings() : null;
  }

  /** Opens a parser on the buffer's bytes without copying them when they are on the heap. */
  static JsonParser parser(Buffer raw) throws IOException {
    if (raw instanceof BufferInternal internal) {
      ByteBuf buf = internal.getByteBuf();
      if (buf.hasArray()) {
        return FACTORY.createParser(
            buf.array(), buf.arrayOffset() + buf.readerIndex(), buf.readableBytes());
      }
      return FACTORY.createParser((java.io.InputStream) new ByteBufInputStream(buf));
    }
    return FACTORY.createParser(raw.getBytes());
  }

  /**
   * The body's lean tree, or null for an empty body.
   *
   * @throws OpenAiException 400 for a body that is not one JSON object or crosses a limit
   * @throws IOException for JSON that does not parse (including Jackson's own constraints)
   */
  static ObjectNode read(Buffer raw, OpenAiRequestParser.Bounds bounds) throws IOException {
    try (JsonParser p = parser(raw)) {
      JsonToken t = p.nextToken();
      if (t == null) return null;
      if (t != JsonToken.START_OBJECT) {
        throw OpenAiException.badRequest(null, "request body must be a JSON object");
      }
      ObjectNode body = new BoundedJsonReader(p, bounds).top();
      if (p.nextToken() != null) {
        throw OpenAiException.badRequest(
            null, "request body must be one JSON object; found more after it");
      }
      return body;
    }
  }

  private ObjectNode top() throws IOException {
    ObjectNode o = NODES.objectNode();
    for (JsonToken t = p.nextToken(); t == JsonToken.FIELD_NAME; t = p.nextToken()) {
      String name = p.currentName();
      JsonToken v = p.nextToken();
      field = name;
      switch (name) {
        case "model",
            "stream",
            "max_tokens",
            "max_completion_tokens",
            "cache_salt",
            "user",
            "priority",
            // set by disaggregated serving, refused from clients: kept to be refused
            "kv_transfer_params",
            "bootstrap_host",
            "bootstrap_port",
            "bootstrap_room" ->
            o.set(name, shallow(v));
        case "messages", "prompt", "input", "instructions", "text" -> o.set(name, prompt(v));
        default -> p.skipChildren();
      }
    }
    return o;
  }

  /** A value kept for its type and, when scalar, its value: a container is skipped. */
  private JsonNode shallow(JsonToken t) throws IOException {
    return switch (t) {
      case START_OBJECT -> {
        p.skipChildren();
        yield NODES.objectNode();
      }
      case START_ARRAY -> {
        p.skipChildren();
        yield NODES.arrayNode();
      }
      default -> scalar(t);
    };
  }

  private JsonNode scalar(JsonToken t) throws IOException {
    return switch (t) {
      case VALUE_STRING -> NODES.textNode(p.getText());
      case VALUE_NUMBER_INT ->
          switch (p.getNumberType()) {
            case INT -> NODES.numberNode(p.getIntValue());
            case LONG -> NODES.numberNode(p.getLongValue());
            default -> NODES.numberNode(p.getBigIntegerValue());
          };
      case VALUE_NUMBER_FLOAT -> NODES.numberNode(p.getDoubleValue());
      case VALUE_TRUE -> BooleanNode.TRUE;
      case VALUE_FALSE -> BooleanNode.FALSE;
      default -> NullNode.instance;
    };
  }

  /**
   * A prompt value (messages, prompt, input, instructions, text): strings and token ids count as
   * prompt characters, objects as messages (chat messages, Responses input items), nested arrays as
   * prompt items (a batch's prompts), also counted against {@code maxMessages}.
   */
  private JsonNode prompt(JsonToken t) throws IOException {
    switch (t) {
      case START_ARRAY -> {
        ArrayNode a = NODES.arrayNode();
        for (JsonToken e = p.nextToken(); e != JsonToken.END_ARRAY; e = p.nextToken()) {
          if (e == JsonToken.START_ARRAY) {
            item();
            a.add(prompt(e));
          } else if (e == JsonToken.START_OBJECT) {
            item();
            a.add(message());
          } else {
            a.add(promptScalar(e));
          }
        }
        return a;
      }
      case START_OBJECT -> {
        p.skipChildren();
        return NODES.objectNode();
      }
      default -> {
        return promptScalar(t);
      }
    }
  }

  /** A string counts its characters, any other scalar (a token id) its text and a separator. */
  private JsonNode promptScalar(JsonToken t) throws IOException {
    value();
    if (t == JsonToken.VALUE_STRING) {
      String s = decodeString();
      chars(Math.max(1, s.length()));
      return NODES.textNode(s);
    }
    chars(p.getTextLength() + 1L);
    return scalar(t);
  }

  /**
   * The current string token's value, decoded from the body's bytes by {@link JsonStrings} when it
   * is plain ASCII (the parser then moves past it without a second scan); else Jackson's own.
   */
  private String decodeString() throws IOException {
    if (strings != null) {
      PromptJsonFactory.Parser pp = (PromptJsonFactory.Parser) p;
      int start = pp.unreadStringStart();
      if (start > 0) {
        String s = strings.decode(pp.input(), start - 1, pp.inputEnd());
        if (s != null) {
          pp.stringRead(strings.end);
          return s;
        }
      }
    }
    return p.getText();
  }

  /** A message (or Responses input item): its role, content and whether it calls tools. */
  private ObjectNode message() throws IOException {
    ObjectNode m = NODES.objectNode();
    for (JsonToken t = p.nextToken(); t == JsonToken.FIELD_NAME; t = p.nextToken()) {
      String name = p.currentName();
      JsonToken v = p.nextToken();
      switch (name) {
        case "role" -> {
          if (v == JsonToken.VALUE_STRING) m.set(name, promptScalar(v));
          else m.set(name, shallow(v));
        }
        case "content" -> m.set(name, content(v));
        case "tool_calls", "function_call" -> {
          p.skipChildren();
          m.set(name, PRESENT);
        }
        default -> p.skipChildren();
      }
    }
    return m;
  }

  /** A message's content: a string, or an array of content parts. */
  private JsonNode content(JsonToken t) throws IOException {
    if (t != JsonToken.START_ARRAY) {
      return t == JsonToken.VALUE_STRING ? promptScalar(t) : shallow(t);
    }
    ArrayNode a = NODES.arrayNode();
    for (JsonToken e = p.nextToken(); e != JsonToken.END_ARRAY; e = p.nextToken()) {
      part();
      if (e == JsonToken.START_OBJECT) a.add(partObject());
      else if (e == JsonToken.VALUE_STRING) a.add(promptScalar(e));
      else a.add(shallow(e));
    }
    return a;
  }

  /** A content part: its text, or the media reference the router keys it by. */
  private ObjectNode partObject() throws IOException {
    ObjectNode o = NODES.objectNode();
    for (JsonToken t = p.nextToken(); t == JsonToken.FIELD_NAME; t = p.nextToken()) {
      String name = p.currentName();
      JsonToken v = p.nextToken();
      switch (name) {
        case "text" -> o.set(name, v == JsonToken.VALUE_STRING ? promptScalar(v) : shallow(v));
        case "image_url", "input_audio", "video_url", "file" -> o.set(name, media(v));
        default -> p.skipChildren();
      }
    }
    return o;
  }

  /** A media reference: a URL string, or an object whose id-like fields are kept. */
  private JsonNode media(JsonToken t) throws IOException {
    if (t != JsonToken.START_OBJECT) return shallow(t);
    ObjectNode o = NODES.objectNode();
    for (JsonToken f = p.nextToken(); f == JsonToken.FIELD_NAME; f = p.nextToken()) {
      String name = p.currentName();
      JsonToken v = p.nextToken();
      switch (name) {
        case "uuid", "url", "file_id", "data" -> o.set(name, shallow(v));
        default -> p.skipChildren();
      }
    }
    return o;
  }

  private void item() {
    if (++messages > bounds.maxMessages()) {
      throw limit(
          "too_many_messages",
          "'"
              + field
              + "' holds more than "
              + bounds.maxMessages()
              + " messages or items (limits.maxMessages)");
    }
  }

  private void part() {
    if (++parts > bounds.maxContentParts()) {
      throw limit(
          "too_many_content_parts",
          "the request holds more than "
              + bounds.maxContentParts()
              + " content parts (limits.maxContentParts)");
    }
  }

  private void chars(long n) {
    promptChars += n;
    if (promptChars > bounds.maxPromptChars()) {
      throw limit(
          "prompt_too_long",
          "the prompt is longer than "
              + bounds.maxPromptChars()
              + " characters (limits.maxPromptChars)");
    }
  }

  private void value() {
    if (++values > bounds.maxPromptValues()) {
      throw limit(
          "too_many_prompt_values",
          "the prompt holds more than "
              + bounds.maxPromptValues()
              + " strings and numbers (limits.maxPromptValues)");
    }
  }

  private OpenAiException limit(String code, String message) {
    return new OpenAiException(400, "invalid_request_error", field, code, message);
  }
}
