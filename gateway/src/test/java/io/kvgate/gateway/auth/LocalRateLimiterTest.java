package io.kvgate.gateway.auth;

import static org.junit.jupiter.api.Assertions.*;

import java.util.Set;
import org.junit.jupiter.api.Test;

/** Token buckets on a fake clock: refill, bursts, debt, and the budgets the headers report. */
class LocalRateLimiterTest {

  static final long S = 1_000_000_000L;

  static ApiKey key(String name, RateLimits limits) {
    return new ApiKey(
        name, "t", KeyHash.of("sk-" + name + "-secret"), Set.of(), limits, false, false);
  }

  @Test
  void requestsBurstOneSecondsWorthThenRefillAtTheRate() {
    LocalRateLimiter l = new LocalRateLimiter(new RateLimits(10, 0));
    ApiKey k = key("k", RateLimits.INHERIT);
    for (int i = 0; i < 10; i++) assertTrue(l.admitRequest(k, 0).allowed(), "burst " + i);
    RateLimiter.Verdict v = l.admitRequest(k, 0);
    assertFalse(v.allowed());
    assertEquals("requests", v.refusedBy());
    assertEquals(100, v.retryAfterMillis(), "one request refills in 100 ms");
    assertEquals(10, v.requests().limit());
    assertEquals(0, v.requests().remaining());
    assertTrue(l.admitRequest(k, S / 10).allowed());
    assertFalse(l.admitRequest(k, S / 10).allowed());
    assertTrue(l.admitRequest(k, 2 * S).allowed(), "refilled");
    assertNull(v.tokens(), "no token limit, no token budget");
  }

  @Test
  void keysHaveTheirOwnBucketsAndOwnLimits() {
    LocalRateLimiter l = new LocalRateLimiter(new RateLimits(1, 0));
    ApiKey a = key("a", RateLimits.INHERIT);
    ApiKey b = key("b", RateLimits.INHERIT);
    ApiKey free = key("free", RateLimits.NONE);
    assertTrue(l.admitRequest(a, 0).allowed());
    assertFalse(l.admitRequest(a, 0).allowed());
    assertTrue(l.admitRequest(b, 0).allowed(), "b is not charged for a");
    for (int i = 0; i < 100; i++) assertTrue(l.admitRequest(free, 0).allowed());
    assertSame(RateLimiter.Verdict.UNLIMITED, l.admitRequest(free, 0));
  }

  @Test
  void tokensChargePromptOnAdmissionAndCompletionAfterwards() {
    LocalRateLimiter l = new LocalRateLimiter(new RateLimits(0, 600)); // 10 tokens/s
    ApiKey k = key("k", RateLimits.INHERIT);
    assertTrue(l.admitTokens(k, 500, 0).allowed());
    RateLimiter.Verdict v = l.admitTokens(k, 200, 0);
    assertFalse(v.allowed(), "100 left, 200 asked");
    assertEquals(10_000, v.retryAfterMillis(), "100 more tokens take 10 s");
    assertEquals(100, v.tokens().remaining());
    l.chargeTokens(k, 300, 0);
    RateLimiter.Verdict debt = l.admitRequest(k, 0);
    assertFalse(debt.allowed(), "in debt: refused before the body is read");
    assertEquals("tokens", debt.refusedBy());
    assertEquals(20_000, debt.retryAfterMillis(), "200 tokens of debt at 10/s");
    assertTrue(l.admitRequest(k, 21 * S).allowed());
    assertEquals(-1, l.admitTokens(k, 601, 21 * S).retryAfterMillis(), "larger than the budget");
  }

  @Test
  void utilisationIsTheFullerBudget() {
    LocalRateLimiter l = new LocalRateLimiter(new RateLimits(4, 600));
    ApiKey k = key("k", RateLimits.INHERIT);
    assertEquals(0, l.utilisation(k, 0), 1e-9);
    l.admitRequest(k, 0);
    assertEquals(0.25, l.utilisation(k, 0), 1e-9);
    l.admitTokens(k, 450, 0);
    assertEquals(0.75, l.utilisation(k, 0), 1e-9);
  }

  @Test
  void keyHashesAreSaltedAndParse() {
    KeyHash a = KeyHash.of("sk-same-key");
    KeyHash b = KeyHash.of("sk-same-key");
    assertNotEquals(a.toString(), b.toString(), "salted");
    assertTrue(KeyHash.parse(a.toString()).matches("sk-same-key"));
    assertFalse(KeyHash.parse(a.toString()).matches("sk-same-kez"));
    assertFalse(a.toString().contains("sk-same-key"));
    assertThrows(IllegalArgumentException.class, () -> KeyHash.parse("sk-same-key"));
    assertThrows(IllegalArgumentException.class, () -> KeyHash.parse("sha256:zz:00"));
    assertEquals("abc", KeyRing.bearer("bearer  abc "));
    assertNull(KeyRing.bearer("Basic abc"));
    assertNull(KeyRing.bearer("Bearer "));
  }
}
