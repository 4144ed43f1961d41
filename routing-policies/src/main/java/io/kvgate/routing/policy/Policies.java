package io.kvgate.routing.policy;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import io.kvgate.routing.Router;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Policy files: parse (every problem with its YAML path), compile (to an immutable {@link Router}),
 * and the bundled presets ({@code policies/<name>.yaml} on the classpath, copies in {@code
 * config/policies/}).
 */
public final class Policies {

  private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());
  private static final List<String> PRESETS =
      List.of(
          "round-robin",
          "random",
          "least-loaded",
          "session-affinity",
          "cache-aware",
          "sglang-cache-aware",
          "dynamo-kv");

  private Policies() {}

  /** The bundled preset names. */
  public static List<String> presetNames() {
    return PRESETS;
  }

  /** A preset by name, or a policy file by path; parsed and compiled for {@code context}. */
  public static Router load(String presetNameOrPath, RoutingContext context)
      throws PolicyException {
    return compile(parse(read(presetNameOrPath), presetNameOrPath), context);
  }

  private static String read(String presetNameOrPath) throws PolicyException {
    if (PRESETS.contains(presetNameOrPath)) {
      try (InputStream in =
          Policies.class
              .getClassLoader()
              .getResourceAsStream("policies/" + presetNameOrPath + ".yaml")) {
        if (in == null)
          throw new IllegalStateException("preset resource missing: " + presetNameOrPath);
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
              new PolicyException.Problem(
                  "",
                  "no preset of that name (presets: "
                      + String.join(", ", PRESETS)
                      + ") and no such file")));
    }
    try {
      return Files.readString(file);
    } catch (IOException e) {
      throw new PolicyException(
          presetNameOrPath,
          List.of(new PolicyException.Problem("", "cannot read: " + e.getMessage())));
    }
  }

  /** Parses and validates a policy file's text; every problem is reported at once. */
  public static PolicySpec parse(String yaml, String source) throws PolicyException {
    JsonNode root;
    try {
      root = YAML.readTree(yaml);
    } catch (JsonProcessingException e) {
      throw new PolicyException(
          source,
          List.of(new PolicyException.Problem("", "not valid YAML: " + e.getOriginalMessage())));
    }
    List<PolicyException.Problem> problems = new ArrayList<>();
    if (root == null || !root.isObject()) {
      throw new PolicyException(
          source,
          List.of(
              new PolicyException.Problem("", "must be a mapping with 'plugins' and 'profiles'")));
    }
    for (Iterator<String> it = root.fieldNames(); it.hasNext(); ) {
      String k = it.next();
      if (!Set.of("name", "description", "plugins", "profiles").contains(k)) {
        problems.add(
            new PolicyException.Problem(
                k, "unknown key (allowed: description, name, plugins, profiles)"));
      }
    }
    for (String k : List.of("name", "description")) {
      if (root.has(k) && !root.get(k).isTextual())
        problems.add(new PolicyException.Problem(k, "must be a string"));
    }
    String name = root.path("name").isTextual() ? root.get("name").asText() : source;
    String description = root.path("description").asText("");

    Map<String, PolicySpec.PluginSpec> plugins = new LinkedHashMap<>();
    JsonNode pl = root.get("plugins");
    if (pl == null || !pl.isArray() || pl.isEmpty()) {
      problems.add(new PolicyException.Problem("plugins", "must be a non-empty list"));
    } else {
      for (int i = 0; i < pl.size(); i++) {
        String path = "plugins[" + i + "]";
        JsonNode p = pl.get(i);
        if (!p.isObject()) {
          problems.add(new PolicyException.Problem(path, "must be a mapping with 'type'"));
          continue;
        }
        for (Iterator<String> it = p.fieldNames(); it.hasNext(); ) {
          String k = it.next();
          if (!Set.of("type", "name", "parameters").contains(k)) {
            problems.add(
                new PolicyException.Problem(
                    path + "." + k, "unknown key (allowed: name, parameters, type)"));
          }
        }
        String type = p.path("type").asText(null);
        PluginRegistry.Type t = type == null ? null : PluginRegistry.type(type);
        if (t == null) {
          problems.add(
              new PolicyException.Problem(
                  path + ".type",
                  (type == null ? "is required" : "unknown type '" + type + "'")
                      + " (known: "
                      + String.join(", ", PluginRegistry.typeNames())
                      + ")"));
          continue;
        }
        String pname = p.path("name").asText(type);
        Object params =
            t.decode()
                .apply(
                    new PluginRegistry.Params(p.get("parameters"), path + ".parameters", problems));
        if (plugins.containsKey(pname))
          problems.add(
              new PolicyException.Problem(path + ".name", "duplicate plugin name '" + pname + "'"));
        plugins.put(pname, new PolicySpec.PluginSpec(pname, type, params));
      }
    }

    List<PolicySpec.ProfileSpec> profiles = new ArrayList<>();
    JsonNode pr = root.get("profiles");
    if (pr == null || !pr.isArray() || pr.isEmpty()) {
      problems.add(new PolicyException.Problem("profiles", "must be a non-empty list"));
    } else {
      for (int i = 0; i < pr.size(); i++) {
        String path = "profiles[" + i + "]";
        JsonNode p = pr.get(i);
        if (!p.isObject()) {
          problems.add(
              new PolicyException.Problem(path, "must be a mapping with 'name' and 'plugins'"));
          continue;
        }
        unknownKeys(p, path, Set.of("name", "plugins"), problems);
        String pname = p.path("name").asText("default");
        List<PolicySpec.PluginRef> refs = new ArrayList<>();
        JsonNode rs = p.get("plugins");
        int pickers = 0;
        if (rs == null || !rs.isArray() || rs.isEmpty()) {
          problems.add(
              new PolicyException.Problem(
                  path + ".plugins", "must be a non-empty list of {ref, weight}"));
        } else {
          for (int j = 0; j < rs.size(); j++) {
            String rpath = path + ".plugins[" + j + "]";
            JsonNode r = rs.get(j);
            if (r.isObject()) unknownKeys(r, rpath, Set.of("ref", "weight"), problems);
            String ref =
                r.isTextual()
                    ? r.asText()
                    : r.path("ref").isTextual() ? r.get("ref").asText() : null;
            if (ref == null) {
              problems.add(new PolicyException.Problem(rpath + ".ref", "is required"));
              continue;
            }
            PolicySpec.PluginSpec target = plugins.get(ref);
            if (target == null) {
              problems.add(
                  new PolicyException.Problem(
                      rpath + ".ref",
                      "no plugin named '"
                          + ref
                          + "' (defined: "
                          + String.join(", ", plugins.keySet())
                          + ")"));
              continue;
            }
            PluginRegistry.Kind kind = PluginRegistry.type(target.type()).kind();
            double weight = 1;
            if (r.isObject() && r.has("weight")) {
              if (!r.get("weight").isNumber() || !(r.get("weight").asDouble() > 0)) {
                problems.add(new PolicyException.Problem(rpath + ".weight", "must be > 0"));
              } else if (kind != PluginRegistry.Kind.SCORER) {
                problems.add(
                    new PolicyException.Problem(
                        rpath + ".weight",
                        "only scorers take a weight ('"
                            + ref
                            + "' is a "
                            + kind.name().toLowerCase(java.util.Locale.ROOT)
                            + ")"));
              } else {
                weight = r.get("weight").asDouble();
              }
            }
            if (kind == PluginRegistry.Kind.PICKER) pickers++;
            refs.add(new PolicySpec.PluginRef(ref, weight));
          }
          if (pickers != 1)
            problems.add(
                new PolicyException.Problem(
                    path + ".plugins",
                    "must reference exactly one picker (found " + pickers + ")"));
        }
        profiles.add(new PolicySpec.ProfileSpec(pname, refs));
      }
      if (profiles.stream().noneMatch(p -> p.name().equals("default"))) {
        problems.add(
            new PolicyException.Problem("profiles", "must include a profile named 'default'"));
      }
    }
    if (!problems.isEmpty()) throw new PolicyException(source, problems);
    return new PolicySpec(name, description, plugins, profiles);
  }

  private static void unknownKeys(
      JsonNode node, String path, Set<String> allowed, List<PolicyException.Problem> problems) {
    for (Iterator<String> it = node.fieldNames(); it.hasNext(); ) {
      String k = it.next();
      if (!allowed.contains(k)) {
        problems.add(
            new PolicyException.Problem(
                path + "." + k,
                "unknown key (allowed: "
                    + String.join(", ", new java.util.TreeSet<>(allowed))
                    + ")"));
      }
    }
  }

  /** Builds the router of the spec's {@code default} profile; plugin state starts fresh. */
  public static Router compile(PolicySpec spec, RoutingContext context) throws PolicyException {
    PolicySpec.ProfileSpec profile =
        spec.profiles().stream()
            .filter(p -> p.name().equals("default"))
            .findFirst()
            .orElseThrow(
                () ->
                    new PolicyException(
                        spec.name(),
                        List.of(new PolicyException.Problem("profiles", "no 'default' profile"))));
    List<Filter> filters = new ArrayList<>();
    List<String> filterNames = new ArrayList<>();
    List<Scorer> scorers = new ArrayList<>();
    List<Double> weights = new ArrayList<>();
    List<DispatchAware> listeners = new ArrayList<>();
    Picker picker = null;
    for (PolicySpec.PluginRef ref : profile.plugins()) {
      PolicySpec.PluginSpec p = spec.plugins().get(ref.ref());
      PluginRegistry.Type t = PluginRegistry.type(p.type());
      Object plugin = t.build().apply(p.parameters());
      if (plugin instanceof DispatchAware d) listeners.add(d);
      switch (t.kind()) {
        case FILTER -> {
          filters.add((Filter) plugin);
          filterNames.add(p.name());
        }
        case SCORER -> {
          scorers.add((Scorer) plugin);
          weights.add(ref.weight());
        }
        case PICKER -> picker = (Picker) plugin;
      }
    }
    return new CompiledPolicy(
        spec.name(), context, filters, filterNames, scorers, weights, picker, listeners);
  }
}
