package io.kvgate.routing.policy;

import com.fasterxml.jackson.databind.JsonNode;
import io.kvgate.routing.Role;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.Function;

/**
 * Plugin types by their YAML {@code type}: each decodes its {@code parameters} strictly into a
 * typed record (unknown keys and wrong types are problems with their path) and builds the plugin.
 * Decoding happens once, when a policy is compiled; no plugin ever sees a map.
 */
final class PluginRegistry {

  enum Kind {
    FILTER,
    SCORER,
    PICKER
  }

  /** One registered type. */
  record Type(
      String name, Kind kind, Function<Params, Object> decode, Function<Object, Object> build) {}

  private static final Map<String, Type> TYPES = new LinkedHashMap<>();

  private static void register(
      String name, Kind kind, Function<Params, Object> decode, Function<Object, Object> build) {
    TYPES.put(name, new Type(name, kind, decode, build));
  }

  record NoParams() {}

  record RoleParams(Role role) {}

  record TierParams(String label, List<String> tiers) {}

  record AgeParams(Duration maxSignalAge) {}

  record TemperatureParams(double temperature) {}

  record BoundParams(double c) {}

  record CacheAwareParams(
      double insertionWeight,
      double pressureWeight,
      double balanceWeight,
      double balanceSlack,
      double balanceFloor,
      double waitSlackTokens,
      double waitSlackRatio,
      double temperature) {}

  record SglangParams(
      double cacheThreshold,
      double balanceAbsThreshold,
      double balanceRelThreshold,
      long maxTreeSize,
      int blockSizeChars) {}

  record DynamoParams(double overlapScoreWeight, double temperature) {}

  static {
    register("healthy-filter", Kind.FILTER, p -> p.none(), x -> new Filters.HealthyFilter());
    register("model-filter", Kind.FILTER, p -> p.none(), x -> new Filters.ModelFilter());
    register("lora-filter", Kind.FILTER, p -> p.none(), x -> new Filters.LoraFilter());
    register(
        "role-filter",
        Kind.FILTER,
        p -> {
          p.allow("role");
          return new RoleParams(p.parsed("role", "both", Role::parse));
        },
        x -> new Filters.RoleFilter(((RoleParams) x).role()));
    register(
        "label-tier-filter",
        Kind.FILTER,
        p -> {
          p.allow("label", "tiers");
          return new TierParams(p.string("label", null), p.strings("tiers"));
        },
        x -> new Filters.LabelTierFilter(((TierParams) x).label(), ((TierParams) x).tiers()));

    register(
        "prefix-affinity-scorer",
        Kind.SCORER,
        p -> p.none(),
        x -> new Scorers.PrefixAffinityScorer());
    register("in-flight-scorer", Kind.SCORER, p -> p.none(), x -> new Scorers.InFlightScorer());
    register(
        "pending-prefill-scorer",
        Kind.SCORER,
        p -> p.none(),
        x -> new Scorers.PendingPrefillScorer());
    register(
        "queue-scorer",
        Kind.SCORER,
        PluginRegistry::age,
        x -> new Scorers.QueueScorer(((AgeParams) x).maxSignalAge()));
    register(
        "kv-cache-scorer",
        Kind.SCORER,
        PluginRegistry::age,
        x -> new Scorers.KvCacheScorer(((AgeParams) x).maxSignalAge()));
    register(
        "session-affinity-scorer",
        Kind.SCORER,
        p -> p.none(),
        x -> new Scorers.SessionAffinityScorer());

    register("max-score-picker", Kind.PICKER, p -> p.none(), x -> new Pickers.MaxScorePicker());
    register(
        "softmax-picker",
        Kind.PICKER,
        p -> {
          p.allow("temperature");
          return new TemperatureParams(p.number("temperature", 0.05, 0, 1e9));
        },
        x -> new Pickers.SoftmaxPicker(((TemperatureParams) x).temperature()));
    register("round-robin-picker", Kind.PICKER, p -> p.none(), x -> new Pickers.RoundRobinPicker());
    register("random-picker", Kind.PICKER, p -> p.none(), x -> new Pickers.RandomPicker());
    register(
        "bounded-load-hash-picker",
        Kind.PICKER,
        p -> {
          p.allow("c");
          return new BoundParams(p.number("c", 1.25, 1, 100));
        },
        x -> new Pickers.BoundedLoadHashPicker(((BoundParams) x).c()));
    register(
        "cache-aware-picker",
        Kind.PICKER,
        p -> {
          p.allow(
              "insertionWeight",
              "pressureWeight",
              "balanceWeight",
              "balanceSlack",
              "balanceFloor",
              "waitSlackTokens",
              "waitSlackRatio",
              "temperature");
          return new CacheAwareParams(
              p.number("insertionWeight", 7, 0, 100),
              p.number("pressureWeight", 0.5, 0, 100),
              p.number("balanceWeight", 1, 0, 100),
              p.number("balanceSlack", 0.2, 0, 10),
              p.number("balanceFloor", 0.25, 0, 100),
              p.number("waitSlackTokens", 32768, 0, 1e9),
              p.number("waitSlackRatio", 3, 0, 1000),
              p.number("temperature", 0, 0, 10));
        },
        x -> {
          CacheAwareParams c = (CacheAwareParams) x;
          return new CacheAwarePicker(
              c.insertionWeight(),
              c.pressureWeight(),
              c.balanceWeight(),
              c.balanceSlack(),
              c.balanceFloor(),
              c.waitSlackTokens(),
              c.waitSlackRatio(),
              c.temperature());
        });
    register(
        "sglang-cache-aware-picker",
        Kind.PICKER,
        p -> {
          p.allow(
              "cacheThreshold",
              "balanceAbsThreshold",
              "balanceRelThreshold",
              "maxTreeSize",
              "blockSizeChars");
          return new SglangParams(
              p.number("cacheThreshold", 0.5, 0, 1),
              p.number("balanceAbsThreshold", 32, 0, 1e9),
              p.number("balanceRelThreshold", 1.0001, 1, 1e9),
              (long) p.number("maxTreeSize", 1 << 26, 1, 1e12),
              (int) p.number("blockSizeChars", 64, 1, 1 << 20));
        },
        x -> {
          SglangParams s = (SglangParams) x;
          return new SglangCacheAwarePicker(
              s.cacheThreshold(),
              s.balanceAbsThreshold(),
              s.balanceRelThreshold(),
              Math.max(1, s.maxTreeSize() / s.blockSizeChars()));
        });
    register(
        "dynamo-kv-picker",
        Kind.PICKER,
        p -> {
          p.allow("overlapScoreWeight", "temperature");
          return new DynamoParams(
              p.number("overlapScoreWeight", 1.0, 0, 1e6), p.number("temperature", 0, 0, 100));
        },
        x ->
            new DynamoKvPicker(
                ((DynamoParams) x).overlapScoreWeight(), ((DynamoParams) x).temperature()));
  }

  private static Object age(Params p) {
    p.allow("maxSignalAge");
    return new AgeParams(p.duration("maxSignalAge", Duration.ofSeconds(5)));
  }

  private PluginRegistry() {}

  static Type type(String name) {
    return TYPES.get(name);
  }

  static Set<String> typeNames() {
    return new TreeSet<>(TYPES.keySet());
  }

  /** Typed access to one plugin's {@code parameters}, collecting problems with paths. */
  static final class Params {
    private final JsonNode node;
    private final String path;
    private final List<PolicyException.Problem> problems;

    Params(JsonNode node, String path, List<PolicyException.Problem> problems) {
      this.node = node;
      this.path = path;
      this.problems = problems;
    }

    private void problem(String key, String message) {
      problems.add(new PolicyException.Problem(path + "." + key, message));
    }

    Object none() {
      allow();
      return new NoParams();
    }

    void allow(String... keys) {
      if (node == null || node.isNull()) return;
      if (!node.isObject()) {
        problems.add(new PolicyException.Problem(path, "must be a mapping"));
        return;
      }
      Set<String> ok = Set.of(keys);
      for (Iterator<String> it = node.fieldNames(); it.hasNext(); ) {
        String k = it.next();
        if (!ok.contains(k))
          problem(
              k,
              keys.length == 0
                  ? "unknown parameter (this plugin takes none)"
                  : "unknown parameter (allowed: " + String.join(", ", new TreeSet<>(ok)) + ")");
      }
    }

    private JsonNode get(String key) {
      return node == null || !node.isObject() ? null : node.get(key);
    }

    double number(String key, double dflt, double min, double max) {
      JsonNode v = get(key);
      if (v == null || v.isNull()) return dflt;
      if (!v.isNumber()) {
        problem(key, "must be a number");
        return dflt;
      }
      double x = v.asDouble();
      if (x < min || x > max) {
        problem(key, "must be between " + min + " and " + max + " (got " + x + ")");
        return dflt;
      }
      return x;
    }

    String string(String key, String dflt) {
      JsonNode v = get(key);
      if (v == null || v.isNull()) {
        if (dflt == null) problem(key, "is required");
        return dflt;
      }
      if (!v.isTextual()) {
        problem(key, "must be a string");
        return dflt;
      }
      return v.asText();
    }

    List<String> strings(String key) {
      JsonNode v = get(key);
      List<String> out = new ArrayList<>();
      if (v == null || !v.isArray() || v.isEmpty()) {
        problem(key, "must be a non-empty list of strings");
        return out;
      }
      for (int i = 0; i < v.size(); i++) {
        if (v.get(i).isTextual()) out.add(v.get(i).asText());
        else problem(key + "[" + i + "]", "must be a string");
      }
      return out;
    }

    <T> T parsed(String key, String dflt, Function<String, T> parser) {
      String s = string(key, dflt);
      try {
        return parser.apply(s);
      } catch (IllegalArgumentException e) {
        problem(key, e.getMessage());
        return parser.apply(dflt);
      }
    }

    Duration duration(String key, Duration dflt) {
      JsonNode v = get(key);
      if (v == null || v.isNull()) return dflt;
      java.util.regex.Matcher m =
          java.util.regex.Pattern.compile("(\\d+)(ms|s|m)").matcher(v.asText());
      if (!v.isTextual() || !m.matches()) {
        problem(key, "must be a duration such as 500ms, 5s or 1m");
        return dflt;
      }
      long x = Long.parseLong(m.group(1));
      return switch (m.group(2)) {
        case "ms" -> Duration.ofMillis(x);
        case "s" -> Duration.ofSeconds(x);
        default -> Duration.ofMinutes(x);
      };
    }
  }
}
