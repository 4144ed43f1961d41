package io.kvgate.gateway.fleet;

import io.kvgate.gateway.config.GatewayConfig;
import io.kvgate.routing.Endpoint;
import io.kvgate.routing.EndpointField;
import io.kvgate.routing.EndpointState;
import io.kvgate.routing.Router;
import io.kvgate.routing.config.ConfigProblem;
import io.kvgate.routing.policy.PluginRegistry;
import io.kvgate.routing.policy.Policies;
import io.kvgate.routing.policy.PolicyException;
import io.kvgate.routing.policy.RoutingContext;
import io.kvgate.routing.prefix.LruPrefixIndex;
import io.kvgate.routing.prefix.PrefixIndex;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicReference;

/**
 * One served model: its endpoints' live states, its prefix index and its current policy. The index
 * and the endpoint states outlive policy reloads; the policy is swapped atomically.
 */
public final class ModelRoute {

  private final String name;
  private final String policySource;
  private final java.util.Set<String> adapters;
  private final List<EndpointState> endpoints;
  private final io.kvgate.routing.prefix.JournaledPrefixIndex index;
  private final PluginRegistry plugins;
  private final GatewayConfig.Model model;
  private final String yamlPath;
  private final EndpointTarget[] targets;
  private final RoutingContext context;
  private final AtomicReference<Compiled> compiled = new AtomicReference<>();
  private final long policyFileMillis;
  private final java.util.Map<String, Long> configuredCapacity;

  /** Builds the model's state and compiles its policy; a bad policy fails start-up. */
  public ModelRoute(GatewayConfig.Model model, GatewayConfig.Routing routing)
      throws PolicyException {
    this(model, routing, PluginRegistry.builtIn());
  }

  /** As above, compiling policies with the plugin types of {@code plugins}. */
  public ModelRoute(
      GatewayConfig.Model model, GatewayConfig.Routing routing, PluginRegistry plugins)
      throws PolicyException {
    this(model, routing, plugins, "models[0]");
  }

  /**
   * As above; {@code yamlPath} is the model's place in the config ({@code models[2]}), for the
   * paths of endpoint settings the policy would ignore.
   *
   * @throws PolicyException if the policy does not compile, or ignores a configured endpoint
   *     setting (see {@link #ignoredSettings})
   */
  public ModelRoute(
      GatewayConfig.Model model,
      GatewayConfig.Routing routing,
      PluginRegistry plugins,
      String yamlPath)
      throws PolicyException {
    this.plugins = plugins;
    this.model = model;
    this.yamlPath = yamlPath;
    this.name = model.name();
    this.policySource = model.policy();
    this.adapters = model.adapters();
    List<EndpointState> states = new ArrayList<>();
    for (Endpoint e : model.endpoints()) states.add(new EndpointState(e, states.size()));
    this.endpoints = List.copyOf(states);
    this.index =
        new io.kvgate.routing.prefix.JournaledPrefixIndex(
            new LruPrefixIndex(
                LruPrefixIndex.Settings.defaults()
                    .withDefaultCapacityBlocks(routing.capacityBlocks())
                    .withTtl(routing.indexTtl())));
    this.targets = new EndpointTarget[endpoints.size()];
    for (EndpointState e : endpoints) {
      targets[e.slot()] =
          EndpointTarget.of(
              e.endpoint().url(), model.tls(e.endpoint()), model.apiKeys().get(e.id()));
    }
    this.configuredCapacity = model.capacityBlocks();
    for (EndpointState e : endpoints) {
      Long blocks = configuredCapacity.get(e.id());
      if (blocks != null) index.setCapacityBlocks(e.slot(), blocks);
    }
    this.context = new RoutingContext(name, index, new SplittableRandom(name.hashCode()));
    java.nio.file.Path file = java.nio.file.Path.of(policySource);
    long mtime = -1;
    if (!Policies.presetNames().contains(policySource) && java.nio.file.Files.isRegularFile(file)) {
      try {
        mtime = java.nio.file.Files.getLastModifiedTime(file).toMillis();
      } catch (java.io.IOException e) {
        mtime = -1;
      }
    }
    this.policyFileMillis = mtime;
    install(
        compile(Policies.parse(Policies.read(policySource), policySource, plugins), policySource));
  }

  /**
   * Compiles {@code spec} for this model: its {@code default} profile, and for a disaggregated
   * model its decode side (the spec's {@code decode} profile, else the {@code decode-load} preset).
   *
   * @throws PolicyException if the spec has a decode profile and this model is not disaggregated,
   *     or the policy ignores a configured endpoint setting
   */
  public Compiled compile(io.kvgate.routing.policy.PolicySpec spec, String source)
      throws PolicyException {
    Router main = Policies.compile(spec, context);
    Router decode = Policies.compileDecode(spec, context);
    if (decode != null && !model.pd().enabled()) {
      throw new PolicyException(
          source,
          List.of(
              new ConfigProblem(
                  "profiles",
                  "profile 'decode' ranks a disaggregated model's decode side, and "
                      + yamlPath
                      + " ('"
                      + name
                      + "') has no pd.protocol")));
    }
    io.kvgate.routing.pd.DisaggregatedRouter pd = null;
    if (model.pd().enabled()) {
      if (decode == null) {
        decode = Policies.load(Policies.DECODE_PRESET, context, plugins);
      }
      pd =
          new io.kvgate.routing.pd.DisaggregatedRouter(
              main, decode, index, model.pd().minUncachedTokens());
    }
    Compiled c = new Compiled(main, pd);
    List<ConfigProblem> ignored = ignoredSettings(c);
    if (!ignored.isEmpty()) throw new PolicyException(source, ignored);
    return c;
  }

  /**
   * A compiled policy: the router of every request (aggregated model) or of the prefill pool, and
   * for a disaggregated model the router that decides each request's legs.
   */
  public record Compiled(Router router, io.kvgate.routing.pd.DisaggregatedRouter pd) {
    /** The configured endpoint properties either side reads. */
    java.util.Set<EndpointField> fieldsRead() {
      java.util.Set<EndpointField> f = java.util.EnumSet.noneOf(EndpointField.class);
      f.addAll(router.endpointFieldsRead());
      if (pd != null) f.addAll(pd.decodeRouter().endpointFieldsRead());
      return f;
    }
  }

  /** Swaps in a compiled policy (start-up, hot reload). */
  public void install(Compiled c) {
    compiled.set(c);
  }

  public String name() {
    return name;
  }

  /** The preset name or file path the policy came from. */
  public String policySource() {
    return policySource;
  }

  public java.util.Set<String> adapters() {
    return adapters;
  }

  public List<EndpointState> endpoints() {
    return endpoints;
  }

  /** Endpoints drained by an operator, by id. */
  private final java.util.Set<String> drained = java.util.concurrent.ConcurrentHashMap.newKeySet();

  private volatile List<EndpointState> routable;

  /**
   * The endpoints new requests may be routed to: all but the drained ones. Requests already on a
   * drained endpoint finish there.
   */
  public List<EndpointState> routable() {
    List<EndpointState> r = routable;
    return r != null ? r : endpoints;
  }

  /**
   * Stops (or, {@code drain} false, resumes) routing new requests to endpoint {@code id}; false if
   * the model has no such endpoint.
   */
  public boolean setDrained(String id, boolean drain) {
    if (!applyDrained(id, drain)) return false;
    java.util.function.BiConsumer<String, Boolean> l = drainListener;
    if (l != null) l.accept(id, drain);
    return true;
  }

  private volatile java.util.function.BiConsumer<String, Boolean> drainListener;

  /** Called with (endpoint id, drained) after each {@link #setDrained} (the cluster ships it). */
  public void onDrainChanged(java.util.function.BiConsumer<String, Boolean> listener) {
    this.drainListener = listener;
  }

  /** As {@link #setDrained}, without telling the listener (a drain decided by a peer gateway). */
  public synchronized boolean applyDrained(String id, boolean drain) {
    if (endpoints.stream().noneMatch(e -> e.id().equals(id))) return false;
    if (drain) drained.add(id);
    else drained.remove(id);
    routable =
        drained.isEmpty()
            ? null
            : endpoints.stream().filter(e -> !drained.contains(e.id())).toList();
    return true;
  }

  /** Whether an operator drained endpoint {@code e}. */
  public boolean drained(EndpointState e) {
    return !drained.isEmpty() && drained.contains(e.id());
  }

  /**
   * True if the configuration fixes this endpoint's KV capacity (engine figures do not replace it).
   */
  public boolean capacityConfigured(EndpointState e) {
    return configuredCapacity.containsKey(e.id());
  }

  /** Where requests to {@code e} (an endpoint of this model) go. */
  public EndpointTarget target(EndpointState e) {
    return targets[e.slot()];
  }

  /**
   * The model's prefix index. Its writes are shipped to peer gateways when clustered ({@link
   * #journaled()}); write to {@link #localIndex()} what must stay on this gateway.
   */
  public PrefixIndex index() {
    return index;
  }

  /** The index as the cluster sees it: attach a journal to ship its writes. */
  public io.kvgate.routing.prefix.JournaledPrefixIndex journaled() {
    return index;
  }

  /**
   * The same index, writes not shipped: peers' writes are applied here, and so are resets this
   * gateway detected on its own (every gateway detects those itself).
   */
  public PrefixIndex localIndex() {
    return index.local();
  }

  /**
   * The endpoint settings of this model that {@code r} would ignore, each with its YAML path: a
   * weight other than 1 under a policy that reads no weights, adapters under one that reads no
   * adapters. Every setting acts or is refused.
   */
  public List<ConfigProblem> ignoredSettings(Compiled c) {
    Router r = c.router();
    List<ConfigProblem> out = new ArrayList<>();
    java.util.Set<EndpointField> read = c.fieldsRead();
    for (int j = 0; j < model.endpoints().size(); j++) {
      Endpoint e = model.endpoints().get(j);
      String at = yamlPath + ".endpoints[" + j + "]";
      if (e.weight() != 1.0 && !read.contains(EndpointField.WEIGHT)) {
        out.add(
            new ConfigProblem(
                at + ".weight",
                "policy '"
                    + r.name()
                    + "' reads no endpoint weights (in-flight-scorer, pending-prefill-scorer and"
                    + " cache-aware-picker do)"));
      }
      if (!e.adapters().isEmpty() && !read.contains(EndpointField.ADAPTERS)) {
        out.add(
            new ConfigProblem(
                at + ".adapters",
                "policy '" + r.name() + "' reads no endpoint adapters (lora-filter does)"));
      }
    }
    return out;
  }

  /** The plugin types this model's policy (and its reloads) are compiled with. */
  public PluginRegistry plugins() {
    return plugins;
  }

  public RoutingContext context() {
    return context;
  }

  /**
   * The modification time of the policy file when it was loaded (read before loading, so an edit
   * racing the start is seen as a change), or -1 when the policy is a preset.
   */
  public long policyFileMillis() {
    return policyFileMillis;
  }

  /**
   * The policy in force: it ranks every request of an aggregated model, and the prefill pool of a
   * disaggregated one.
   */
  public Router router() {
    return compiled.get().router();
  }

  /** The router that decides a disaggregated model's legs, or null (not disaggregated). */
  public io.kvgate.routing.pd.DisaggregatedRouter pd() {
    return compiled.get().pd();
  }

  /** The model's configuration. */
  public GatewayConfig.Model model() {
    return model;
  }

  /** Swaps in a policy for every request (tests; a disaggregated model keeps its decode side). */
  public void setRouter(Router r) {
    Compiled c = compiled.get();
    io.kvgate.routing.pd.DisaggregatedRouter pd =
        c.pd() == null
            ? null
            : new io.kvgate.routing.pd.DisaggregatedRouter(
                r, c.pd().decodeRouter(), index, c.pd().minUncachedTokens());
    compiled.set(new Compiled(r, pd));
  }

  /**
   * At least one endpoint that can serve a request whole is admitted by health checks (for a
   * disaggregated model, a decode or {@code both} endpoint: prefill endpoints alone serve nothing).
   */
  public boolean ready() {
    for (EndpointState e : routable()) if (e.healthy() && servesWhole(e)) return true;
    return false;
  }

  /** Whether {@code e} can serve a request whole (every endpoint but a prefill one). */
  public static boolean servesWhole(EndpointState e) {
    return e.endpoint().role() != io.kvgate.routing.Role.PREFILL;
  }
}
