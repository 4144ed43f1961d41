package io.kvgate.sim;

/**
 * What part of inference a simulated engine serves in disaggregated serving: {@link #BOTH} does
 * prefill and decode (the normal case, and ignores SGLang's bootstrap fields), {@link #PREFILL}
 * serves prefill legs (vLLM requests with {@code kv_transfer_params.do_remote_decode}, SGLang
 * requests with a {@code bootstrap_room}, whose room it registers on its bootstrap server), {@link
 * #DECODE} serves decode legs (vLLM requests with {@code kv_transfer_params.do_remote_prefill},
 * SGLang requests whose room it takes from the prefill engine) and otherwise prefills locally.
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
