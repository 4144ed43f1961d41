package io.kvgate.routing.config;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Iterator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.function.Function;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The one YAML reader of kvgate: a node with its path, reading typed values and collecting problems
 * instead of throwing, so that one pass reports every mistake in a file. The gateway config and the
 * policy files are both read through it, so they share one duration syntax ({@code 250ms}, {@code
 * 5s}, {@code 1.5m}, {@code 1h}), one unknown-key message and one path syntax ({@code
 * models[0].endpoints[1].url}).
 *
 * <p>Every typed read of a missing or null key returns the given default; a value of the wrong type
 * or out of range is a problem (and yields the default, so reading goes on).
 */
public final class ConfigNode {

  private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());
  private static final Pattern DURATION = Pattern.compile("(\\d+(?:\\.\\d+)?)\\s*(ms|s|m|h)");

  private final JsonNode node;
  private final String path;
  private final List<ConfigProblem> problems;

  private ConfigNode(JsonNode node, String path, List<ConfigProblem> problems) {
    this.node = node;
    this.path = path;
    this.problems = problems;
  }

  /**
   * Parses a YAML document whose root must be a mapping; its problems are collected into {@code
   * problems}.
   *
   * @throws ConfigException if the text is not YAML or its root is not a mapping ({@code
   *     rootExpectation} says what the root must hold)
   */
  public static ConfigNode root(
      String yaml, String source, String rootExpectation, List<ConfigProblem> problems)
      throws ConfigException {
    JsonNode root;
    try {
      root = YAML.readTree(yaml);
    } catch (JsonProcessingException e) {
      throw new ConfigException(
          source,
          List.of(
              new ConfigProblem(
                  "",
                  "not valid YAML: "
                      + e.getOriginalMessage()
                      + (e.getLocation() == null
                          ? ""
                          : " (line " + e.getLocation().getLineNr() + ")"))));
    }
    if (root == null || !root.isObject()) {
      throw new ConfigException(
          source, List.of(new ConfigProblem("", "must be a mapping with " + rootExpectation)));
    }
    return new ConfigNode(root, "", problems);
  }

  public String path() {
    return path;
  }

  public boolean isMissing() {
    return node == null || node.isMissingNode() || node.isNull();
  }

  public boolean has(String key) {
    JsonNode v = get(key);
    return v != null && !v.isNull();
  }

  /** True if this node is a plain string (e.g. the short form of a list element). */
  public boolean isText() {
    return node != null && node.isTextual();
  }

  public boolean isObject() {
    return node != null && node.isObject();
  }

  /** This node's text, or null when it is not a string. */
  public String text() {
    return isText() ? node.asText() : null;
  }

  /** The keys of this mapping in file order (empty when not a mapping). */
  public Set<String> keys() {
    Set<String> out = new LinkedHashSet<>();
    if (isObject()) node.fieldNames().forEachRemaining(out::add);
    return out;
  }

  public void problem(String key, String message) {
    problems.add(new ConfigProblem(child(key), message));
  }

  public void problem(String message) {
    problems.add(new ConfigProblem(path, message));
  }

  /** The problems collected so far by this node and every node of its document. */
  public List<ConfigProblem> problems() {
    return problems;
  }

  private String child(String key) {
    return path.isEmpty() ? key : path + "." + key;
  }

  private JsonNode get(String key) {
    return isMissing() || !node.isObject() ? null : node.get(key);
  }

  /** Reports every key not in {@code allowed}; a value that is not a mapping is a problem too. */
  public void allowOnly(String... allowed) {
    allowOnly(Set.of(allowed));
  }

  /** As {@link #allowOnly(String...)}. */
  public void allowOnly(Collection<String> allowed) {
    if (isMissing()) return;
    if (!node.isObject()) {
      problem("must be a mapping");
      return;
    }
    for (Iterator<String> it = node.fieldNames(); it.hasNext(); ) {
      String k = it.next();
      if (!allowed.contains(k)) {
        problem(
            k,
            allowed.isEmpty()
                ? "unknown key (none allowed here)"
                : "unknown key (allowed: " + String.join(", ", new TreeSet<>(allowed)) + ")");
      }
    }
  }

  /** The mapping under {@code key}; a missing key yields an empty node. */
  public ConfigNode object(String key) {
    JsonNode v = get(key);
    if (v != null && !v.isNull() && !v.isObject()) {
      problem(key, "must be a mapping");
      v = null;
    }
    return new ConfigNode(v, child(key), problems);
  }

  /** The list under {@code key}, each element with its own path ({@code key[i]}). */
  public List<ConfigNode> list(String key, boolean required) {
    JsonNode v = get(key);
    List<ConfigNode> out = new ArrayList<>();
    if (v == null || v.isNull()) {
      if (required) problem(key, "is required");
      return out;
    }
    if (!v.isArray()) {
      problem(key, "must be a list");
      return out;
    }
    for (int i = 0; i < v.size(); i++) {
      out.add(new ConfigNode(v.get(i), child(key) + "[" + i + "]", problems));
    }
    return out;
  }

  public String string(String key, String dflt, boolean required) {
    JsonNode v = get(key);
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

  public long integer(String key, long dflt, long min, long max) {
    JsonNode v = get(key);
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

  /** A number in {@code [min, max]}. */
  public double number(String key, double dflt, double min, double max) {
    JsonNode v = get(key);
    if (v == null || v.isNull()) return dflt;
    if (!v.isNumber()) {
      problem(key, "must be a number");
      return dflt;
    }
    double x = v.asDouble();
    if (!(x >= min && x <= max)) {
      problem(key, "must be between " + fmt(min) + " and " + fmt(max) + " (got " + fmt(x) + ")");
      return dflt;
    }
    return x;
  }

  /** A number greater than zero. */
  public double positive(String key, double dflt) {
    JsonNode v = get(key);
    if (v == null || v.isNull()) return dflt;
    if (!v.isNumber()) {
      problem(key, "must be a number");
      return dflt;
    }
    if (!(v.asDouble() > 0)) {
      problem(key, "must be greater than 0 (got " + fmt(v.asDouble()) + ")");
      return dflt;
    }
    return v.asDouble();
  }

  private static String fmt(double x) {
    return x == Math.rint(x) && Math.abs(x) < 1e15 ? Long.toString((long) x) : Double.toString(x);
  }

  public boolean bool(String key, boolean dflt) {
    JsonNode v = get(key);
    if (v == null || v.isNull()) return dflt;
    if (!v.isBoolean()) {
      problem(key, "must be true or false");
      return dflt;
    }
    return v.asBoolean();
  }

  /**
   * A duration greater than zero, written {@code 250ms}, {@code 5s}, {@code 1.5m} or {@code 1h}.
   */
  public Duration duration(String key, Duration dflt) {
    JsonNode v = get(key);
    if (v == null || v.isNull()) return dflt;
    Duration d = v.isTextual() ? parseDuration(v.asText()) : null;
    if (d == null) {
      problem(key, "must be a duration such as 500ms, 30s, 5m or 1h (got '" + v.asText() + "')");
      return dflt;
    }
    if (d.isZero()) {
      problem(key, "must be greater than zero");
      return dflt;
    }
    return d;
  }

  /** Parses the duration syntax of {@link #duration}; null if {@code s} is not one. */
  public static Duration parseDuration(String s) {
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

  /**
   * Formats a duration in the syntax {@link #parseDuration} reads, in the largest unit that keeps
   * it whole: {@code 5s}, {@code 250ms}, {@code 10m}, {@code 1h}.
   */
  public static String formatDuration(Duration d) {
    long ms = d.toMillis();
    if (ms != 0 && ms % 3_600_000 == 0) return ms / 3_600_000 + "h";
    if (ms != 0 && ms % 60_000 == 0) return ms / 60_000 + "m";
    if (ms % 1_000 == 0) return ms / 1_000 + "s";
    return ms + "ms";
  }

  /** A list of strings; {@code required} makes a missing or empty list a problem. */
  public List<String> strings(String key, boolean required) {
    JsonNode v = get(key);
    List<String> out = new ArrayList<>();
    if (v == null || v.isNull()) {
      if (required) problem(key, "is required (a non-empty list of strings)");
      return out;
    }
    if (!v.isArray()) {
      problem(key, "must be a list of strings");
      return out;
    }
    if (required && v.isEmpty()) problem(key, "must be a non-empty list of strings");
    for (int i = 0; i < v.size(); i++) {
      if (!v.get(i).isTextual()) problem(key + "[" + i + "]", "must be a string");
      else out.add(v.get(i).asText());
    }
    return out;
  }

  public Map<String, String> stringMap(String key) {
    JsonNode v = get(key);
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

  /**
   * A string turned into a value by {@code parser}, whose {@link IllegalArgumentException} message
   * becomes the problem; a missing key parses {@code dflt}.
   */
  public <T> T parse(String key, String dflt, Function<String, T> parser) {
    String s = string(key, dflt, false);
    try {
      return parser.apply(s);
    } catch (IllegalArgumentException e) {
      problem(key, e.getMessage());
      return parser.apply(dflt);
    }
  }
}
