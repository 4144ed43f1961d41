package io.kvgate.routing.policy;

import java.util.List;
import java.util.Map;

/**
 * A parsed, validated policy file: named plugin instances and the profile that wires them.
 *
 * <pre>
 * name: cache-aware
 * description: "..."
 * plugins:
 *   - {type: healthy-filter}
 *   - {name: prefix, type: prefix-affinity-scorer}
 *   - {type: cache-aware-picker, parameters: {pressureWeight: 0.5}}
 * profiles:
 *   - name: default
 *     plugins: [{ref: healthy-filter}, {ref: prefix, weight: 3}, {ref: cache-aware-picker}]
 * </pre>
 *
 * @param name the policy's name (metric tag, logs)
 * @param description free text
 * @param plugins plugin instances by name (a plugin's name defaults to its type)
 * @param profiles the profiles; {@code default} serves ordinary requests
 */
public record PolicySpec(
    String name, String description, Map<String, PluginSpec> plugins, List<ProfileSpec> profiles) {

  /** A plugin instance: its type and its decoded, typed parameters. */
  public record PluginSpec(String name, String type, Object parameters) {}

  /** Plugin references in order, each with a weight (used by scorers). */
  public record ProfileSpec(String name, List<PluginRef> plugins) {}

  public record PluginRef(String ref, double weight) {}
}
