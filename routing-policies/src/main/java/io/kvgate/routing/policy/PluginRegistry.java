package io.kvgate.routing.policy;

import java.util.Collection;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.Function;

/**
 * Plugin types by their YAML {@code type}. Each type declares its parameter record and defaults
 * once ({@link PluginType}); decoding happens when a policy is parsed, so no plugin ever sees a
 * map.
 *
 * <p>Immutable: {@link #builtIn()} holds kvgate's plugins, and code outside this library extends a
 * registry with {@link #withFilter}, {@link #withScorer} and {@link #withPicker}, each returning a
 * new registry; {@link Policies#parse(String, String, PluginRegistry)} takes the registry to use.
 */
public final class PluginRegistry {

  /** A plugin without parameters. */
  public record None() {
    public static final None DEFAULTS = new None();
  }

  private static final PluginRegistry BUILT_IN = builtIns();

  private final Map<String, PluginType<?, ?>> types;

  private PluginRegistry(Map<String, PluginType<?, ?>> types) {
    this.types = Collections.unmodifiableMap(types);
  }

  /** kvgate's own plugins. */
  public static PluginRegistry builtIn() {
    return BUILT_IN;
  }

  private static PluginRegistry builtIns() {
    PluginRegistry r = new PluginRegistry(new LinkedHashMap<>());
    r =
        r.withFilter(
                "healthy-filter",
                "endpoints admitted by health checks",
                None.class,
                None.DEFAULTS,
                p -> new Filters.HealthyFilter())
            .withFilter(
                "lora-filter",
                "a request for a LoRA adapter prefers endpoints that have it loaded (all stay when"
                    + " none has)",
                None.class,
                None.DEFAULTS,
                p -> new Filters.LoraFilter())
            .withFilter(
                "label-tier-filter",
                "preference tiers on an endpoint label: the most preferred tier with an"
                    + " unsaturated endpoint first, the next tiers after it (for retries); the rest"
                    + " of the profile ranks each tier apart (see 'Tiers across clouds')",
                Filters.LabelTierFilter.class,
                Filters.LabelTierFilter.DEFAULTS,
                p -> p);
    r =
        r.withScorer(
                "prefix-affinity-scorer",
                "predicted cached blocks / prompt blocks (prefix index)",
                None.class,
                None.DEFAULTS,
                p -> new Scorers.PrefixAffinityScorer())
            .withScorer(
                "in-flight-scorer",
                "fewest requests in flight, counted by kvgate at dispatch, per unit of weight",
                None.class,
                None.DEFAULTS,
                p -> new Scorers.InFlightScorer())
            .withScorer(
                "pending-prefill-scorer",
                "fewest prompt tokens dispatched and not yet prefilled, per unit of weight",
                None.class,
                None.DEFAULTS,
                p -> new Scorers.PendingPrefillScorer())
            .withScorer(
                "decode-tokens-scorer",
                "fewest completion tokens still to generate (the max_tokens of requests in flight),"
                    + " per unit of weight",
                None.class,
                None.DEFAULTS,
                p -> new Scorers.DecodeTokensScorer())
            .withScorer(
                "queue-scorer",
                "fewest requests waiting in the engine (its /metrics), kvgate's in-flight count when"
                    + " the scrape is stale",
                Scorers.QueueScorer.class,
                Scorers.QueueScorer.DEFAULTS,
                p -> p)
            .withScorer(
                "kv-cache-scorer",
                "lowest engine KV-cache usage (0.5 when the scrape is stale)",
                Scorers.KvCacheScorer.class,
                Scorers.KvCacheScorer.DEFAULTS,
                p -> p)
            .withScorer(
                "session-affinity-scorer",
                "1 for the endpoint the session key maps to by rendezvous hashing, 0 elsewhere",
                None.class,
                None.DEFAULTS,
                p -> new Scorers.SessionAffinityScorer());
    r =
        r.withPicker(
                "max-score-picker",
                "highest weighted score first, exact ties at random",
                None.class,
                None.DEFAULTS,
                p -> new Pickers.MaxScorePicker(),
                true)
            .withPicker(
                "softmax-picker",
                "first choice sampled with probability ∝ exp(score / temperature)",
                Pickers.SoftmaxPicker.class,
                Pickers.SoftmaxPicker.DEFAULTS,
                p -> p,
                true)
            .withPicker(
                "round-robin-picker",
                "each decision starts one further along the endpoint list",
                None.class,
                None.DEFAULTS,
                p -> new Pickers.RoundRobinPicker(),
                false)
            .withPicker(
                "random-picker",
                "a uniformly random order",
                None.class,
                None.DEFAULTS,
                p -> new Pickers.RandomPicker(),
                false)
            .withPicker(
                "bounded-load-hash-picker",
                "consistent hashing of the session key with bounded loads",
                Pickers.BoundedLoadHashPicker.class,
                Pickers.BoundedLoadHashPicker.DEFAULTS,
                p -> p,
                false)
            .withPicker(
                "cache-aware-picker",
                "kvgate's policy: prices each endpoint in prompt tokens still to prefill (see"
                    + " 'cache-aware')",
                CacheAwarePicker.class,
                CacheAwarePicker.DEFAULTS,
                p -> p,
                false)
            .withPicker(
                "sglang-cache-aware-picker",
                "the SGLang model gateway's cache_aware policy, re-implemented",
                SglangCacheAwarePicker.Params.class,
                SglangCacheAwarePicker.Params.DEFAULTS,
                SglangCacheAwarePicker::new,
                false)
            .withPicker(
                "dynamo-kv-picker",
                "NVIDIA Dynamo's KV router cost, re-implemented",
                DynamoKvPicker.class,
                DynamoKvPicker.DEFAULTS,
                p -> p,
                false);
    return r;
  }

  /** This registry plus a filter type. */
  public <P extends Record> PluginRegistry withFilter(
      String type,
      String description,
      Class<P> parameters,
      P defaults,
      Function<? super P, ? extends Filter> factory) {
    return with(
        new PluginType<>(
            type,
            PluginType.Kind.FILTER,
            Filter.class,
            description,
            parameters,
            defaults,
            factory,
            false));
  }

  /** This registry plus a scorer type. */
  public <P extends Record> PluginRegistry withScorer(
      String type,
      String description,
      Class<P> parameters,
      P defaults,
      Function<? super P, ? extends Scorer> factory) {
    return with(
        new PluginType<>(
            type,
            PluginType.Kind.SCORER,
            Scorer.class,
            description,
            parameters,
            defaults,
            factory,
            false));
  }

  /**
   * This registry plus a picker type.
   *
   * @param readsScores true if the picker orders by the profile's weighted scores; false if it
   *     ranks by itself (then validation refuses scorers next to it, which it would ignore)
   */
  public <P extends Record> PluginRegistry withPicker(
      String type,
      String description,
      Class<P> parameters,
      P defaults,
      Function<? super P, ? extends Picker> factory,
      boolean readsScores) {
    return with(
        new PluginType<>(
            type,
            PluginType.Kind.PICKER,
            Picker.class,
            description,
            parameters,
            defaults,
            factory,
            readsScores));
  }

  private PluginRegistry with(PluginType<?, ?> t) {
    if (types.containsKey(t.name())) {
      throw new IllegalArgumentException("plugin type '" + t.name() + "' is already registered");
    }
    Map<String, PluginType<?, ?>> next = new LinkedHashMap<>(types);
    next.put(t.name(), t);
    return new PluginRegistry(next);
  }

  /** The type registered as {@code name}, or null. */
  public PluginType<?, ?> type(String name) {
    return types.get(name);
  }

  /** Every registered type, in registration order (filters, scorers, pickers for built-ins). */
  public Collection<PluginType<?, ?>> types() {
    return types.values();
  }

  public Set<String> typeNames() {
    return new TreeSet<>(types.keySet());
  }

  /**
   * Every plugin type with its parameters as Markdown: the table docs/ROUTING.md carries and {@code
   * kvgate plugins} prints (a test keeps the two equal).
   */
  public String markdown() {
    StringBuilder sb = new StringBuilder();
    sb.append("| type | kind | what it does | parameters (default; range) |\n");
    sb.append("|---|---|---|---|\n");
    for (PluginType<?, ?> t : types.values()) {
      StringBuilder params = new StringBuilder();
      for (PluginType.ParamDoc p : t.parameterDocs()) {
        if (params.length() > 0) params.append("<br>");
        params.append('`').append(p.name()).append("` ").append(p.type()).append(" (");
        params.append(p.dflt());
        if (!p.range().isEmpty()) params.append("; ").append(p.range());
        params.append("): ").append(p.doc());
      }
      String kind = t.kind().wireName();
      if (t.kind() == PluginType.Kind.PICKER)
        kind += t.readsScores() ? ", reads scores" : ", ranks by itself";
      sb.append("| `")
          .append(t.name())
          .append("` | ")
          .append(kind)
          .append(" | ")
          .append(t.description())
          .append(" | ")
          .append(params.length() == 0 ? "none" : params)
          .append(" |\n");
    }
    return sb.toString();
  }
}
