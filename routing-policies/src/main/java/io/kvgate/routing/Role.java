package io.kvgate.routing;

import java.util.Locale;

/**
 * What an endpoint does in a disaggregated fleet. {@link #BOTH} is an ordinary aggregated replica.
 */
public enum Role {
  BOTH,
  PREFILL,
  DECODE;

  /** The YAML / CLI spelling: {@code both}, {@code prefill}, {@code decode}. */
  public String wireName() {
    return name().toLowerCase(Locale.ROOT);
  }

  /** Parses the wire name; throws {@link IllegalArgumentException} naming the allowed values. */
  public static Role parse(String s) {
    for (Role r : values()) {
      if (r.wireName().equals(s)) return r;
    }
    throw new IllegalArgumentException("must be one of both, prefill, decode (got '" + s + "')");
  }
}
