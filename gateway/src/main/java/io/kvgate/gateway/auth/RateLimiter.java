package io.kvgate.gateway.auth;

/**
 * Admission against a key's rate limits. The gateway asks twice per request: {@link #admitRequest}
 * when the head arrives (before the body is read, so a client over its limit costs no parsing),
 * {@link #admitTokens} once the prompt is keyed and its tokens estimated; completion tokens are
 * charged afterwards ({@link #chargeTokens}), so a key may run into debt and is refused until it
 * has paid it back.
 *
 * <p>{@link LocalRateLimiter} counts in this process; a clustered gateway plugs in counters shared
 * by every instance behind this same interface.
 */
public interface RateLimiter {

  /**
   * Takes one request from {@code key}'s request budget; refuses if its token budget is in debt.
   */
  Verdict admitRequest(ApiKey key, long nowNanos);

  /** Takes {@code promptTokens} from {@code key}'s token budget. */
  Verdict admitTokens(ApiKey key, long promptTokens, long nowNanos);

  /** Charges tokens a response used beyond its prompt (completion tokens). */
  void chargeTokens(ApiKey key, long tokens, long nowNanos);

  /** The state of one budget, as OpenAI's {@code x-ratelimit-*} headers report it. */
  record Budget(long limit, long remaining, long resetMillis) {}

  /**
   * An admission answer.
   *
   * @param allowed whether the request goes on
   * @param refusedBy {@code requests} or {@code tokens} when refused, else null
   * @param requests the request budget after this answer (null when the key has no request limit)
   * @param tokens the token budget after this answer (null when the key has no token limit)
   * @param retryAfterMillis when refused: how long until the same request would be admitted; -1
   *     when waiting cannot help (a prompt larger than the whole token budget)
   * @param message when refused: what was exceeded, for the client
   */
  record Verdict(
      boolean allowed,
      String refusedBy,
      Budget requests,
      Budget tokens,
      long retryAfterMillis,
      String message) {

    public static final Verdict UNLIMITED = new Verdict(true, null, null, null, 0, null);
  }
}
