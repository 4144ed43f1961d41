package io.kvgate.load;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Deterministic prompt material for the simulations: one long system prompt per tenant (the shared
 * prefix a cache-aware router should keep on one replica) and short, distinct user questions.
 * Everything is plain ASCII so JSON escaping is trivial.
 */
final class Prompts {

  private static final String[] WORDS = {
    "replica", "prefill", "decode", "tensor", "cache", "block", "router", "latency", "token",
        "batch",
    "gateway", "cluster", "region", "policy", "stream", "engine", "queue", "budget", "schema",
        "tool"
  };

  private final List<String> systemPrompts;

  Prompts(int tenants, int systemPromptChars) {
    systemPrompts = new ArrayList<>(tenants);
    for (int t = 0; t < tenants; t++) {
      systemPrompts.add(
          text(
              new SplittableRandom(1_000 + t),
              "You are assistant " + t + " of tenant-" + t + ". ",
              systemPromptChars));
    }
  }

  String systemPrompt(int tenant) {
    return systemPrompts.get(Math.floorMod(tenant, systemPrompts.size()));
  }

  int tenants() {
    return systemPrompts.size();
  }

  /** A short question, distinct per seed. */
  static String question(long seed) {
    return text(new SplittableRandom(seed), "Question " + seed + ": ", 200);
  }

  static String text(SplittableRandom random, String head, int chars) {
    StringBuilder sb = new StringBuilder(chars + 16).append(head);
    while (sb.length() < chars) sb.append(WORDS[random.nextInt(WORDS.length)]).append(' ');
    sb.setLength(chars);
    return sb.toString();
  }

  /** JSON string literal, quotes included. */
  static String json(String s) {
    StringBuilder sb = new StringBuilder(s.length() + 2).append('"');
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      switch (c) {
        case '"' -> sb.append("\\\"");
        case '\\' -> sb.append("\\\\");
        case '\n' -> sb.append("\\n");
        case '\r' -> sb.append("\\r");
        case '\t' -> sb.append("\\t");
        default -> {
          if (c < 0x20) sb.append(String.format("\\u%04x", (int) c));
          else sb.append(c);
        }
      }
    }
    return sb.append('"').toString();
  }

  /** A chat body: the tenant's system prompt, then the given turns (role, content) in order. */
  String chatBody(String model, int tenant, List<String[]> turns, int maxTokens, boolean stream) {
    StringBuilder sb = new StringBuilder(systemPrompt(tenant).length() + 512);
    sb.append("{\"model\":")
        .append(json(model))
        .append(",\"max_tokens\":")
        .append(maxTokens)
        .append(",\"stream\":")
        .append(stream);
    if (stream) sb.append(",\"stream_options\":{\"include_usage\":true}");
    sb.append(",\"messages\":[{\"role\":\"system\",\"content\":")
        .append(json(systemPrompt(tenant)))
        .append('}');
    for (String[] turn : turns) {
      sb.append(",{\"role\":")
          .append(json(turn[0]))
          .append(",\"content\":")
          .append(json(turn[1]))
          .append('}');
    }
    return sb.append("]}").toString();
  }
}
