package io.kvgate.replay;

import io.kvgate.sim.Role;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * A fleet layout: how many simulated engines of each role. Either aggregated (only {@code both}
 * engines) or disaggregated (at least one {@code prefill} and one {@code decode} engine, plus any
 * {@code both} engines, which serve on the decode side).
 *
 * @param prefill engines with role {@code prefill}
 * @param decode engines with role {@code decode}
 * @param both engines with role {@code both}
 */
public record Fleet(int prefill, int decode, int both) {

  public Fleet {
    if (prefill < 0 || decode < 0 || both < 0)
      throw new IllegalArgumentException("engine counts must be >= 0");
    if (prefill + decode + both < 1) throw new IllegalArgumentException("a fleet needs an engine");
    if ((prefill == 0) != (decode == 0))
      throw new IllegalArgumentException(
          "a disaggregated fleet needs both prefill and decode engines (got "
              + label(prefill, decode, both)
              + ")");
  }

  /** An aggregated fleet of {@code n} engines. */
  public static Fleet aggregated(int n) {
    return new Fleet(0, 0, n);
  }

  /** True if the fleet has prefill and decode engines. */
  public boolean disaggregated() {
    return prefill > 0;
  }

  /** Engines in all. */
  public int engines() {
    return prefill + decode + both;
  }

  /** The role of every engine, in fleet order: prefill engines, then decode, then both. */
  public List<Role> roles() {
    List<Role> out = new ArrayList<>();
    for (int i = 0; i < prefill; i++) out.add(Role.PREFILL);
    for (int i = 0; i < decode; i++) out.add(Role.DECODE);
    for (int i = 0; i < both; i++) out.add(Role.BOTH);
    return out;
  }

  /** The flag form, e.g. {@code prefill=2+decode=2} or {@code both=4}. */
  public String label() {
    return label(prefill, decode, both);
  }

  private static String label(int prefill, int decode, int both) {
    List<String> parts = new ArrayList<>();
    if (prefill > 0) parts.add("prefill=" + prefill);
    if (decode > 0) parts.add("decode=" + decode);
    if (both > 0) parts.add("both=" + both);
    return String.join("+", parts);
  }

  @Override
  public String toString() {
    return label();
  }

  /**
   * Parses {@code ROLE=N[+ROLE=N...]} with roles {@code both}, {@code prefill}, {@code decode},
   * each at most once, N >= 1.
   *
   * @throws IllegalArgumentException naming the problem
   */
  public static Fleet parse(String s) {
    if (s == null || s.isBlank())
      throw new IllegalArgumentException("empty fleet; use e.g. both=4 or prefill=2+decode=2");
    int[] n = new int[Role.values().length];
    for (String part : s.trim().split("\\+", -1)) {
      int eq = part.indexOf('=');
      if (eq < 0)
        throw new IllegalArgumentException(
            "fleet '" + s + "': '" + part + "' is not ROLE=N (e.g. prefill=2+decode=2)");
      Role role;
      try {
        role = Role.parse(part.substring(0, eq));
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException("fleet '" + s + "': " + e.getMessage());
      }
      int count;
      try {
        count = Integer.parseInt(part.substring(eq + 1).trim());
      } catch (NumberFormatException e) {
        count = -1;
      }
      if (count < 1 || count > 256)
        throw new IllegalArgumentException(
            "fleet '" + s + "': the count of " + part + " must be an integer in 1..256");
      if (n[role.ordinal()] != 0)
        throw new IllegalArgumentException(
            "fleet '" + s + "': role " + role.name().toLowerCase(Locale.ROOT) + " given twice");
      n[role.ordinal()] = count;
    }
    try {
      return new Fleet(n[Role.PREFILL.ordinal()], n[Role.DECODE.ordinal()], n[Role.BOTH.ordinal()]);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("fleet '" + s + "': " + e.getMessage());
    }
  }
}
