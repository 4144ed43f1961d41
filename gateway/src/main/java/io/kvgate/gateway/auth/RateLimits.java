package io.kvgate.gateway.auth;

/**
 * Rate limits of one key; 0 = unlimited.
 *
 * @param rps requests per second (bursts up to one second's worth, at least 1)
 * @param tpm tokens per minute: prompt tokens (estimated when the request is keyed) charged on
 *     admission, completion tokens (the response's usage) charged when it ends; bursts up to one
 *     minute's worth
 */
public record RateLimits(double rps, long tpm) {

  /** No limit. */
  public static final RateLimits NONE = new RateLimits(0, 0);

  /** A key's marker for "the config's default limits". */
  public static final RateLimits INHERIT = new RateLimits(-1, -1);

  public boolean limited() {
    return rps > 0 || tpm > 0;
  }

  /** These limits, or {@code fallback} where this is {@link #INHERIT}. */
  public RateLimits or(RateLimits fallback) {
    return this.equals(INHERIT) ? fallback : this;
  }
}
