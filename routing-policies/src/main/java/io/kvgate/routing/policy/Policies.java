package io.kvgate.routing.policy;

import io.kvgate.routing.Router;
import io.kvgate.routing.config.ConfigNode;
import io.kvgate.routing.config.ConfigProblem;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Policy files: parse (every problem with its YAML path), compile (to an immutable {@link Router}),
 * and the bundled presets ({@code policies/<name>.yaml} on the classpath, copies in {@code
 * config/policies/}).
 *
 * <p>Validation refuses every setting that would do nothing: an unknown key or parameter, a profile
 * other than {@code default} (the only one that routes), a plugin the profile does not use, a
 * plugin used twice, a weight on anything but a scorer, and scorers next to a picker that ranks by
 * itself (it would ignore them).
 */
public final class Policies {

  /** The profile that ranks a disaggregated model's decode side. */
  public static final String DECODE_PROFILE = "decode";

  /**
   * The preset whose {@code default} profile ranks a decode side when a policy has no decode one.
   */
  public static final String DECODE_PRESET = "decode-load";

  private static final List<String> PRESETS =
      List.of(
          "round-robin",
          "random",
          "least-loaded",
          "session-affinity",
          "cache-aware",
          "sglang-cache-aware",
          "dynamo-kv",
          "decode-load");

  private Policies() {}

  /** The bundled preset names. */
  public static List<String> presetNames() {
    return PRESETS;
  }

  /** A preset by name, or a policy file by path; parsed and compiled for {@code context}. */
  public static Router load(String presetNameOrPath, RoutingContext context)
      throws PolicyException {
    return load(presetNameOrPath, context, PluginRegistry.builtIn());
  }

  /** As {@link #load(String, RoutingContext)}, with the plugin types of {@code registry}. */
  public static Router load(
      String presetNameOrPath, RoutingContext context, PluginRegistry registry)
      throws PolicyException {
    return compile(parse(read(presetNameOrPath), presetNameOrPath, registry), context);
  }

  /** The text of a preset or a policy file. */
  public static String read(String presetNameOrPath) throws PolicyException {
    if (PRESETS.contains(presetNameOrPath)) {
      try (InputStream in =
          Policies.class
              .getClassLoader()
              .getResourceAsStream("policies/" + presetNameOrPath + ".yaml")) {
        if (in == null) {
          throw new IllegalStateException("preset resource missing: " + presetNameOrPath);
        }
        return new String(in.readAllBytes(), StandardCharsets.UTF_8);
      } catch (IOException e) {
        throw new IllegalStateException(e);
      }
    }
    Path file = Path.of(presetNameOrPath);
    if (!Files.isRegularFile(file)) {
      throw new PolicyException(
          presetNameOrPath,
          List.of(
              new ConfigProblem(
                  "",
                  "no preset of that name (presets: "
                      + String.join(", ", PRESETS)
                      + ") and no such file")));
    }
    try {
      return Files.readString(file);
    } catch (IOException e) {
      throw new PolicyException(
          presetNameOrPath, List.of(new ConfigProblem("", "cannot read: " + e.getMessage())));
    }
  }

  /** Parses and validates a policy file's text with the built-in plugins. */
  public static PolicySpec parse(String yaml, String source) throws PolicyException {
    return parse(yaml, source, PluginRegistry.builtIn());
  }

  /** Parses and validates a policy file's text; every problem is reported at once. */
  public static PolicySpec parse(String yaml, String source, PluginRegistry registry)
      throws PolicyException {
    List<ConfigProblem> problems = new ArrayList<>();
    ConfigNode root;
    try {
      root = ConfigNode.root(yaml, source, "'plugins' and 'profiles'", problems);
    } catch (io.kvgate.routing.config.ConfigException e) {
      throw new PolicyException(source, e.problems());
    }
    root.allowOnly("name", "description", "plugins", "profiles");
    String name = root.string("name", source, false);
    String description = root.string("description", "", false);

    Map<String, PolicySpec.PluginSpec> plugins = new LinkedHashMap<>();
    Map<String, String> pluginPaths = new LinkedHashMap<>();
    List<ConfigNode> pluginNodes = root.list("plugins", true);
    if (root.has("plugins") && pluginNodes.isEmpty()) root.problem("plugins", "must not be empty");
    for (ConfigNode p : pluginNodes) {
      if (!p.isObject()) {
        p.problem("must be a mapping with 'type'");
        continue;
      }
      p.allowOnly("type", "name", "parameters");
      int before = problems.size();
      String type = p.string("type", null, false);
      PluginType<?, ?> t = type == null ? null : registry.type(type);
      if (t == null && problems.size() == before) {
        p.problem(
            "type",
            (type == null ? "is required" : "unknown type '" + type + "'")
                + " (known: "
                + String.join(", ", registry.typeNames())
                + ")");
        continue;
      }
      if (t == null) continue;
      String pname = p.string("name", type, false);
      Record params = t.decode(p.object("parameters"));
      if (plugins.containsKey(pname)) {
        p.problem("name", "duplicate plugin name '" + pname + "'");
        continue;
      }
      plugins.put(pname, new PolicySpec.PluginSpec(pname, t, params));
      pluginPaths.put(pname, p.path());
    }

    PolicySpec.ProfileSpec profile = null;
    PolicySpec.ProfileSpec decode = null;
    List<ConfigNode> profileNodes = root.list("profiles", true);
    if (root.has("profiles") && profileNodes.isEmpty()) {
      root.problem("profiles", "must not be empty");
    }
    for (ConfigNode p : profileNodes) {
      if (!p.isObject()) {
        p.problem("must be a mapping with 'name' and 'plugins'");
        continue;
      }
      p.allowOnly("name", "plugins");
      String pname = p.string("name", "default", false);
      if (!pname.equals("default") && !pname.equals(DECODE_PROFILE)) {
        p.problem(
            "name",
            "unknown profile '"
                + pname
                + "': 'default' routes requests (and a disaggregated model's prefill legs),"
                + " 'decode' its decode side");
        continue;
      }
      boolean isDecode = pname.equals(DECODE_PROFILE);
      if (isDecode ? decode != null : profile != null) {
        p.problem("name", "duplicate profile '" + pname + "'");
        continue;
      }
      PolicySpec.ProfileSpec spec = profile(p, pname, plugins, problems);
      if (isDecode) decode = spec;
      else profile = spec;
    }
    if (!profileNodes.isEmpty()
        && profile == null
        && profileNodes.stream().allMatch(ConfigNode::isObject)) {
      root.problem("profiles", "must include a profile named 'default'");
    }
    if (profile != null) {
      Set<String> used = new HashSet<>();
      for (PolicySpec.PluginRef r : profile.plugins()) used.add(r.ref());
      if (decode != null) for (PolicySpec.PluginRef r : decode.plugins()) used.add(r.ref());
      pluginPaths.forEach(
          (pname, path) -> {
            if (!used.contains(pname)) {
              problems.add(
                  new ConfigProblem(
                      path, "plugin '" + pname + "' is defined but no profile uses it"));
            }
          });
    }
    if (!problems.isEmpty()) throw new PolicyException(source, problems);
    return new PolicySpec(name, description, plugins, profile, decode);
  }

  private static PolicySpec.ProfileSpec profile(
      ConfigNode p,
      String profileName,
      Map<String, PolicySpec.PluginSpec> plugins,
      List<ConfigProblem> problems) {
    List<PolicySpec.PluginRef> refs = new ArrayList<>();
    int before = problems.size();
    List<ConfigNode> rs = p.list("plugins", true);
    if (p.has("plugins") && rs.isEmpty() && problems.size() == before) {
      p.problem("plugins", "must list {ref, weight} entries");
    }
    int pickers = 0;
    PolicySpec.PluginSpec picker = null;
    List<ConfigNode> scorerNodes = new ArrayList<>();
    List<String> scorerNames = new ArrayList<>();
    Set<String> seen = new HashSet<>();
    for (ConfigNode r : rs) {
      String ref;
      if (r.isText()) {
        ref = r.text();
      } else {
        r.allowOnly("ref", "weight");
        ref = r.string("ref", null, true);
      }
      if (ref == null) continue;
      PolicySpec.PluginSpec target = plugins.get(ref);
      if (target == null) {
        problems.add(
            new ConfigProblem(
                r.isText() ? r.path() : r.path() + ".ref",
                "no plugin named '"
                    + ref
                    + "' (defined: "
                    + String.join(", ", plugins.keySet())
                    + ")"));
        continue;
      }
      if (!seen.add(ref)) {
        r.problem("plugin '" + ref + "' is already in this profile");
        continue;
      }
      PluginType.Kind kind = target.type().kind();
      double weight = 1;
      if (r.has("weight")) {
        if (kind != PluginType.Kind.SCORER) {
          r.problem(
              "weight", "only scorers take a weight ('" + ref + "' is a " + kind.wireName() + ")");
        } else {
          weight = r.positive("weight", 1);
        }
      }
      if (kind == PluginType.Kind.PICKER) {
        pickers++;
        picker = target;
      }
      if (kind == PluginType.Kind.SCORER) {
        scorerNodes.add(r);
        scorerNames.add(ref);
      }
      refs.add(new PolicySpec.PluginRef(ref, weight));
    }
    if (!rs.isEmpty() && pickers != 1) {
      p.problem("plugins", "must reference exactly one picker (found " + pickers + ")");
    }
    if (pickers == 1 && !picker.type().readsScores()) {
      for (int i = 0; i < scorerNodes.size(); i++) {
        scorerNodes
            .get(i)
            .problem(
                "scorer '"
                    + scorerNames.get(i)
                    + "' would be ignored: '"
                    + picker.type().name()
                    + "' ranks endpoints by itself and reads no scores (combine scorers with"
                    + " max-score-picker or softmax-picker)");
      }
    }
    return new PolicySpec.ProfileSpec(profileName, refs);
  }

  /** Builds the router of the spec's {@code default} profile; plugin state starts fresh. */
  public static Router compile(PolicySpec spec, RoutingContext context) {
    return compile(spec.name(), spec, spec.profile(), context);
  }

  /**
   * The router of the spec's {@code decode} profile (named {@code <policy>/decode}), or null when
   * the spec has none.
   */
  public static Router compileDecode(PolicySpec spec, RoutingContext context) {
    return spec.decode() == null
        ? null
        : compile(spec.name() + "/" + DECODE_PROFILE, spec, spec.decode(), context);
  }

  private static Router compile(
      String name, PolicySpec spec, PolicySpec.ProfileSpec profile, RoutingContext context) {
    List<Filter> filters = new ArrayList<>();
    List<String> filterNames = new ArrayList<>();
    List<Scorer> scorers = new ArrayList<>();
    List<String> scorerNames = new ArrayList<>();
    List<Double> weights = new ArrayList<>();
    List<DispatchAware> listeners = new ArrayList<>();
    Picker picker = null;
    String pickerName = null;
    for (PolicySpec.PluginRef ref : profile.plugins()) {
      PolicySpec.PluginSpec p = spec.plugins().get(ref.ref());
      PluginType<?, ?> t = p.type();
      Object plugin;
      switch (t.kind()) {
        case FILTER -> {
          Filter f = t.create(Filter.class, p.parameters());
          filters.add(f);
          filterNames.add(p.name());
          plugin = f;
        }
        case SCORER -> {
          Scorer s = t.create(Scorer.class, p.parameters());
          scorers.add(s);
          scorerNames.add(p.name());
          weights.add(ref.weight());
          plugin = s;
        }
        default -> {
          picker = t.create(Picker.class, p.parameters());
          pickerName = p.name();
          plugin = picker;
        }
      }
      if (plugin instanceof DispatchAware d) listeners.add(d);
    }
    return new CompiledPolicy(
        name,
        context,
        filters,
        filterNames,
        scorers,
        scorerNames,
        weights,
        picker,
        pickerName,
        listeners);
  }
}
