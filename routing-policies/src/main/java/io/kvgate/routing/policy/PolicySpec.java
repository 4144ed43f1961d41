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
 *   - {type: queue-scorer, parameters: {maxSignalAge: 5s}}
 *   - {type: max-score-picker}
 * profiles:
 *   - name: default
 *     plugins: [{ref: healthy-filter}, {ref: prefix, weight: 3}, {ref: queue-scorer}, {ref: max-score-picker}]
 * </pre>
 *
 * @param name the policy's name (metric tag, logs)
 * @param description free text
 * @param plugins plugin instances by name (a plugin's name defaults to its type)
 * @param profile the {@code default} profile: it ranks every request of an aggregated model, and
 *     the prefill pool of a disaggregated one
 * @param decode the {@code decode} profile, or null: it ranks the decode side (decode and {@code
 *     both} endpoints) of a disaggregated model; a model that is not disaggregated refuses it
 */
public record PolicySpec(
    String name,
    String description,
    Map<String, PluginSpec> plugins,
    ProfileSpec profile,
    ProfileSpec decode) {

  /** A policy with the {@code default} profile only. */
  public PolicySpec(
      String name, String description, Map<String, PluginSpec> plugins, ProfileSpec profile) {
    this(name, description, plugins, profile, null);
  }

  /** A plugin instance: its type and its decoded parameter record. */
  public record PluginSpec(String name, PluginType<?, ?> type, Record parameters) {}

  /** Plugin references in order, each with a weight (scorers only; 1 for the others). */
  public record ProfileSpec(String name, List<PluginRef> plugins) {}

  public record PluginRef(String ref, double weight) {}
}
