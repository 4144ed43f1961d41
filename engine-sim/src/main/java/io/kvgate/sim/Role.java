package io.kvgate.sim;

/**
 * What part of inference a simulated engine serves, as in vLLM's disaggregated serving: {@link
 * #BOTH} does prefill and decode (the normal case), {@link #PREFILL} serves only the prefill leg
 * (requests with {@code kv_transfer_params.do_remote_decode}), {@link #DECODE} serves decode legs
 * (requests with {@code kv_transfer_params.do_remote_prefill}) and otherwise prefills locally.
 */
public enum Role {
  BOTH,
  PREFILL,
  DECODE;

  /** Parses {@code both|prefill|decode}, case-insensitive. */
  public static Role parse(String s) {
    try {
      return valueOf(s.trim().toUpperCase(java.util.Locale.ROOT));
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("role '" + s + "' unknown; use both, prefill or decode");
    }
  }
}
