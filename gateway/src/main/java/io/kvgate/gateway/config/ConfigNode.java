package io.kvgate.gateway.config;

import com.fasterxml.jackson.databind.JsonNode;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.function.Function;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A YAML node with its path, reading typed values and collecting problems instead of throwing, so
 * that one pass reports every mistake in a file. Unknown keys are problems too: {@link #allowOnly}.
 */
final class ConfigNode {

  private static final Pattern DURATION = Pattern.compile("(\\d+(?:\\.\\d+)?)\\s*(ms|s|m|h)");

  private final JsonNode node;
  private final String path;
  private final List<String> problems;

  ConfigNode(JsonNode node, String path, List<String> problems) {
    this.node = node;
    this.path = path;
    this.problems = problems;
  }

  String path() {
    return path;
  }

  boolean isMissing() {
    return node == null || node.isMissingNode() || node.isNull();
  }

  void problem(String key, String message) {
    problems.add(child(key) + ": " + message);
  }

  void problem(String message) {
    problems.add((path.isEmpty() ? "<root>" : path) + ": " + message);
  }

  private String child(String key) {
    return path.isEmpty() ? key : path + "." + key;
  }

  /** Reports every key not in {@code allowed}. */
  void allowOnly(String... allowed) {
    if (isMissing() || !node.isObject()) return;
    Set<String> ok = Set.of(allowed);
    for (Iterator<String> it = node.fieldNames(); it.hasNext(); ) {
      String k = it.next();
      if (!ok.contains(k))
        problem(k, "unknown key (allowed: " + String.join(", ", new java.util.TreeSet<>(ok)) + ")");
    }
  }

  /** The object under {@code key}; a missing key yields an empty node. */
  ConfigNode object(String key) {
    JsonNode v = isMissing() ? null : node.get(key);
    if (v != null && !v.isNull() && !v.isObject()) {
      problem(key, "must be a mapping");
      v = null;
    }
    return new ConfigNode(v, child(key), problems);
  }

  /** The list under {@code key}, each element with its own path. */
  List<ConfigNode> list(String key, boolean required) {
    JsonNode v = isMissing() ? null : node.get(key);
    List<ConfigNode> out = new ArrayList<>();
    if (v == null || v.isNull()) {
      if (required) problem(key, "is required");
      return out;
    }
    if (!v.isArray()) {
      problem(key, "must be a list");
      return out;
    }
    for (int i = 0; i < v.size(); i++)
      out.add(new ConfigNode(v.get(i), child(key) + "[" + i + "]", problems));
    return out;
  }

  String string(String key, String dflt, boolean required) {
    JsonNode v = isMissing() ? null : node.get(key);
    if (v == null || v.isNull()) {
      if (required) problem(key, "is required");
      return dflt;
    }
    if (!v.isTextual()) {
      problem(key, "must be a string");
      return dflt;
    }
    return v.asText();
  }

  long integer(String key, long dflt, long min, long max) {
    JsonNode v = isMissing() ? null : node.get(key);
    if (v == null || v.isNull()) return dflt;
    if (!v.isIntegralNumber()) {
      problem(key, "must be an integer");
      return dflt;
    }
    long x = v.asLong();
    if (x < min || x > max) {
      problem(key, "must be between " + min + " and " + max + " (got " + x + ")");
      return dflt;
    }
    return x;
  }

  double number(String key, double dflt, double minExclusive) {
    JsonNode v = isMissing() ? null : node.get(key);
    if (v == null || v.isNull()) return dflt;
    if (!v.isNumber()) {
      problem(key, "must be a number");
      return dflt;
    }
    double x = v.asDouble();
    if (!(x > minExclusive)) {
      problem(key, "must be > " + minExclusive + " (got " + x + ")");
      return dflt;
    }
    return x;
  }

  boolean bool(String key, boolean dflt) {
    JsonNode v = isMissing() ? null : node.get(key);
    if (v == null || v.isNull()) return dflt;
    if (!v.isBoolean()) {
      problem(key, "must be true or false");
      return dflt;
    }
    return v.asBoolean();
  }

  /** A duration written {@code 250ms}, {@code 5s}, {@code 2m} or {@code 1h}. */
  Duration duration(String key, Duration dflt) {
    JsonNode v = isMissing() ? null : node.get(key);
    if (v == null || v.isNull()) return dflt;
    Duration d = parseDuration(v.asText());
    if (!v.isTextual() || d == null) {
      problem(key, "must be a duration such as 500ms, 30s, 5m or 1h (got '" + v.asText() + "')");
      return dflt;
    }
    if (d.isZero()) {
      problem(key, "must be greater than zero");
      return dflt;
    }
    return d;
  }

  static Duration parseDuration(String s) {
    Matcher m = DURATION.matcher(s.trim());
    if (!m.matches()) return null;
    double x = Double.parseDouble(m.group(1));
    double millis =
        switch (m.group(2)) {
          case "ms" -> x;
          case "s" -> x * 1_000;
          case "m" -> x * 60_000;
          default -> x * 3_600_000;
        };
    return Duration.ofNanos(Math.round(millis * 1_000_000));
  }

  List<String> strings(String key) {
    JsonNode v = isMissing() ? null : node.get(key);
    List<String> out = new ArrayList<>();
    if (v == null || v.isNull()) return out;
    if (!v.isArray()) {
      problem(key, "must be a list of strings");
      return out;
    }
    for (int i = 0; i < v.size(); i++) {
      if (!v.get(i).isTextual()) problem(key + "[" + i + "]", "must be a string");
      else out.add(v.get(i).asText());
    }
    return out;
  }

  Map<String, String> stringMap(String key) {
    JsonNode v = isMissing() ? null : node.get(key);
    Map<String, String> out = new TreeMap<>();
    if (v == null || v.isNull()) return out;
    if (!v.isObject()) {
      problem(key, "must be a mapping of strings");
      return out;
    }
    v.fields()
        .forEachRemaining(
            e -> {
              if (!e.getValue().isValueNode()) problem(key + "." + e.getKey(), "must be a string");
              else out.put(e.getKey(), e.getValue().asText());
            });
    return out;
  }

  <T> T parse(String key, String dflt, Function<String, T> parser) {
    String s = string(key, dflt, false);
    try {
      return parser.apply(s);
    } catch (IllegalArgumentException e) {
      problem(key, e.getMessage());
      return parser.apply(dflt);
    }
  }
}
