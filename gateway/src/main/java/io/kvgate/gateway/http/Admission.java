package io.kvgate.gateway.http;

import io.kvgate.gateway.auth.ApiKey;
import io.kvgate.gateway.auth.KeyRing;
import io.kvgate.gateway.auth.LocalRateLimiter;
import io.kvgate.gateway.auth.RateLimiter;
import io.kvgate.gateway.metrics.GatewayMetrics;
import io.kvgate.gateway.openai.OpenAiException;
import io.kvgate.gateway.openai.OpenAiRequest;
import io.vertx.core.MultiMap;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.http.HttpServerResponse;
import java.nio.charset.StandardCharsets;

/**
 * Who may send a request, and how much: the request path's authentication, model allow-list, rate
 * limits and priority permission, in OpenAI's error shapes.
 *
 * <ul>
 *   <li>401 {@code invalid_api_key} without a configured key in {@code Authorization: Bearer} (when
 *       keys are configured; without any, everyone is {@link ApiKey#ANONYMOUS}).
 *   <li>A model outside the key's allow-list is answered like OpenAI answers a model one has no
 *       access to: 404 {@code model_not_found}, "does not exist or you do not have access to it".
 *   <li>429 {@code rate_limit_exceeded} with {@code Retry-After} (seconds), {@code retry-after-ms}
 *       and OpenAI's {@code x-ratelimit-limit|remaining|reset-requests|tokens} headers, which also
 *       go on every admitted response of a limited key.
 *   <li>A scheduling priority ({@code x-kvgate-priority: N}, passed to the engine as the body's
 *       {@code priority}, vLLM's and SGLang's priority scheduling) only from keys allowed to set
 *       one; from any other key the header, or a {@code priority} in the body, is 403.
 * </ul>
 */
public final class Admission {

  public static final String PRIORITY_HEADER = "x-kvgate-priority";

  private final KeyRing keys;
  private final RateLimiter limiter;
  private final GatewayMetrics metrics;

  public Admission(KeyRing keys, RateLimiter limiter, GatewayMetrics metrics) {
    this.keys = keys;
    this.limiter = limiter;
    this.metrics = metrics;
    if (limiter instanceof LocalRateLimiter local) {
      for (ApiKey k : keys.enabled() ? keys.keys() : java.util.List.of(ApiKey.ANONYMOUS)) {
        if (local.limitsOf(k).limited()) {
          metrics.bindRateLimitUtilisation(
              k.name(), k.tenant(), () -> local.utilisation(k, System.nanoTime()));
        }
      }
    }
  }

  public KeyRing keys() {
    return keys;
  }

  /**
   * The request's key: {@link ApiKey#ANONYMOUS} when auth is off; 401 when it is missing or wrong.
   */
  public ApiKey authenticate(HttpServerRequest req) {
    if (!keys.enabled()) return ApiKey.ANONYMOUS;
    String presented = KeyRing.bearer(req.getHeader("authorization"));
    if (presented == null) {
      metrics.authRefused("missing_key");
      req.response().putHeader("www-authenticate", "Bearer");
      throw new OpenAiException(
          401,
          "invalid_request_error",
          null,
          "missing_api_key",
          "You didn't provide an API key. Send it in an Authorization header using Bearer auth"
              + " (Authorization: Bearer YOUR_KEY).");
    }
    ApiKey key = keys.match(presented);
    if (key == null) {
      metrics.authRefused("invalid_key");
      req.response().putHeader("www-authenticate", "Bearer error=\"invalid_token\"");
      throw new OpenAiException(
          401,
          "invalid_request_error",
          null,
          "invalid_api_key",
          "Incorrect API key provided. Ask the gateway's operator for a valid key.");
    }
    return key;
  }

  /**
   * Whether {@code req} may use the admin operations ({@code /metrics}, {@code /admin/*}) on the
   * API listener: only with an admin key.
   */
  public boolean isAdmin(HttpServerRequest req) {
    return keys.isAdmin(req.getHeader("authorization"));
  }

  /** 404 unless {@code key} may use {@code model}. */
  public void checkModel(ApiKey key, String model) {
    if (key.allows(model)) return;
    metrics.authRefused("model_not_allowed");
    throw new OpenAiException(
        404,
        "invalid_request_error",
        "model",
        "model_not_found",
        "The model '" + model + "' does not exist or you do not have access to it.");
  }

  /** Takes one request from the key's budget (before the body is read); 429 beyond it. */
  public void admitRequest(ApiKey key, HttpServerResponse resp) {
    apply(key, limiter.admitRequest(key, System.nanoTime()), resp);
  }

  /** Takes the prompt's tokens from the key's budget (once keyed); 429 beyond it. */
  public void admitTokens(ApiKey key, long promptTokens, HttpServerResponse resp) {
    apply(key, limiter.admitTokens(key, promptTokens, System.nanoTime()), resp);
    metrics.tenantRequest(key.tenant());
    metrics.tenantTokens(key.tenant(), "prompt", promptTokens);
  }

  /** Charges the completion tokens a response used. */
  public void charge(ApiKey key, long completionTokens) {
    if (completionTokens <= 0) return;
    limiter.chargeTokens(key, completionTokens, System.nanoTime());
    metrics.tenantTokens(key.tenant(), "completion", completionTokens);
  }

  private void apply(ApiKey key, RateLimiter.Verdict v, HttpServerResponse resp) {
    headers(v, resp);
    if (v.allowed()) return;
    metrics.rateLimited(key.tenant(), v.refusedBy());
    if (v.retryAfterMillis() >= 0) {
      resp.putHeader(
          "retry-after", Long.toString(Math.max(1, (v.retryAfterMillis() + 999) / 1000)));
      resp.putHeader("retry-after-ms", Long.toString(v.retryAfterMillis()));
    }
    throw new OpenAiException(429, v.refusedBy(), null, "rate_limit_exceeded", v.message());
  }

  private static void headers(RateLimiter.Verdict v, HttpServerResponse resp) {
    if (v.requests() != null) {
      resp.putHeader("x-ratelimit-limit-requests", Long.toString(v.requests().limit()));
      resp.putHeader("x-ratelimit-remaining-requests", Long.toString(v.requests().remaining()));
      resp.putHeader("x-ratelimit-reset-requests", reset(v.requests().resetMillis()));
    }
    if (v.tokens() != null) {
      resp.putHeader("x-ratelimit-limit-tokens", Long.toString(v.tokens().limit()));
      resp.putHeader("x-ratelimit-remaining-tokens", Long.toString(v.tokens().remaining()));
      resp.putHeader("x-ratelimit-reset-tokens", reset(v.tokens().resetMillis()));
    }
  }

  /** OpenAI's reset format: {@code 20ms}, {@code 1s}, {@code 6m0s}. */
  static String reset(long millis) {
    if (millis < 1000) return millis + "ms";
    long s = (millis + 999) / 1000;
    if (s < 60) return s + "s";
    long m = s / 60;
    if (m < 60) return m + "m" + (s % 60) + "s";
    return (m / 60) + "h" + (m % 60) + "m" + (s % 60) + "s";
  }

  /**
   * The priority the client asks for in {@code x-kvgate-priority}, or null; 403 when the key may
   * not set one (by header or in the body).
   */
  public Integer priority(ApiKey key, MultiMap headers, OpenAiRequest parsed) {
    String header = headers.get(PRIORITY_HEADER);
    boolean inBody = parsed.body() != null && parsed.body().has("priority");
    if ((header != null || inBody) && !key.priority()) {
      metrics.authRefused("priority_not_allowed");
      throw new OpenAiException(
          403,
          "permission_error",
          header != null ? null : "priority",
          "priority_not_allowed",
          "this API key may not set a scheduling priority ("
              + (header != null ? PRIORITY_HEADER + " header" : "'priority' field")
              + "); ask the gateway's operator for a key with priority: true");
    }
    if (header == null) return null;
    try {
      return Integer.parseInt(header.trim());
    } catch (NumberFormatException e) {
      throw OpenAiException.badRequest(
          null, PRIORITY_HEADER + " must be an integer (lower is scheduled earlier, as in vLLM)");
    }
  }

  /**
   * {@code parsed} with {@code "priority": p} as its body's last member (so it wins over one the
   * client sent: engines read JSON with the last duplicate winning); the client's bytes are kept
   * otherwise.
   */
  public static OpenAiRequest withPriority(OpenAiRequest parsed, int p) {
    Buffer raw = parsed.raw();
    int end = raw.length() - 1;
    while (end >= 0 && raw.getByte(end) != '}') end--;
    if (end < 0) return parsed;
    Buffer out = Buffer.buffer(raw.length() + 24);
    out.appendBuffer(raw, 0, end);
    out.appendString(",\"priority\":" + p, StandardCharsets.UTF_8.name());
    out.appendBuffer(raw, end, raw.length() - end);
    if (parsed.body() != null) parsed.body().put("priority", p);
    return new OpenAiRequest(
        parsed.kind(), parsed.path(), parsed.body(), out, parsed.model(), parsed.stream());
  }
}
