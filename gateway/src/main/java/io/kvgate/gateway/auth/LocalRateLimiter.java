package io.kvgate.gateway.auth;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Token buckets per key, in this process. The request bucket holds one second's worth of requests
 * (at least one) and refills at {@code rps}; the token bucket holds one minute's worth and refills
 * at {@code tpm / 60} per second, and may go below zero when completion tokens are charged after
 * the fact. A bucket is a few fields under its own lock: admission is a handful of arithmetic
 * operations, contended only by requests of the same key.
 *
 * <p>In a cluster, each gateway counts what its own admissions took ({@link #consumption}) and
 * debits what peers report they took ({@link #consumedElsewhere}) from the same buckets, so a key's
 * limit holds for the cluster: it may overshoot by about the rate times the propagation delay.
 */
public final class LocalRateLimiter implements RateLimiter {

  private final RateLimits defaults;
  private final Map<String, Buckets> byKey = new ConcurrentHashMap<>();
  private final java.util.concurrent.atomic.LongAdder uses =
      new java.util.concurrent.atomic.LongAdder();

  /** Limits of keys that do not set their own ({@link RateLimits#INHERIT}). */
  public LocalRateLimiter(RateLimits defaults) {
    this.defaults = defaults;
  }

  /** The limits that apply to {@code key}. */
  public RateLimits limitsOf(ApiKey key) {
    return key.limits().or(defaults);
  }

  private Buckets buckets(ApiKey key, long now) {
    return byKey.computeIfAbsent(key.name(), n -> new Buckets(limitsOf(key), now));
  }

  @Override
  public Verdict admitRequest(ApiKey key, long nowNanos) {
    RateLimits l = limitsOf(key);
    if (!l.limited()) return Verdict.UNLIMITED;
    Buckets b = buckets(key, nowNanos);
    if (b.tokens != null) {
      synchronized (b.tokens) {
        if (b.tokens.level(nowNanos) < 0) {
          long wait = b.tokens.millisUntil(0, nowNanos);
          return reached(
              b, key, "tokens", "the completions already answered used the budget", wait, nowNanos);
        }
      }
    }
    if (b.requests != null) {
      synchronized (b.requests) {
        if (!b.requests.take(1, nowNanos)) {
          long wait = b.requests.millisUntil(1, nowNanos);
          return reached(b, key, "requests", null, wait, nowNanos);
        }
        b.usedRequests++;
        uses.increment();
      }
    }
    return allowed(b, nowNanos);
  }

  @Override
  public Verdict admitTokens(ApiKey key, long promptTokens, long nowNanos) {
    RateLimits l = limitsOf(key);
    if (l.tpm() <= 0)
      return l.limited() ? allowed(buckets(key, nowNanos), nowNanos) : Verdict.UNLIMITED;
    Buckets b = buckets(key, nowNanos);
    synchronized (b.tokens) {
      if (promptTokens > l.tpm()) {
        return refused(
            b,
            "tokens",
            -1,
            "Request too large for key '"
                + key.name()
                + "' on tokens per minute (TPM): limit "
                + l.tpm()
                + ", requested about "
                + promptTokens
                + " prompt tokens. Shorten the prompt.",
            nowNanos);
      }
      if (!b.tokens.take(promptTokens, nowNanos)) {
        long wait = b.tokens.millisUntil(promptTokens, nowNanos);
        return reached(b, key, "tokens", "requested about " + promptTokens, wait, nowNanos);
      }
      b.usedTokens += Math.max(0, promptTokens);
      uses.increment();
    }
    return allowed(b, nowNanos);
  }

  @Override
  public void chargeTokens(ApiKey key, long tokens, long nowNanos) {
    if (tokens <= 0 || limitsOf(key).tpm() <= 0) return;
    Buckets b = buckets(key, nowNanos);
    synchronized (b.tokens) {
      b.tokens.charge(tokens, nowNanos);
      b.usedTokens += tokens;
      uses.increment();
    }
  }

  /**
   * How many times this gateway's admissions took from a bucket: a peer report is due when it
   * grows.
   */
  public long consumptionChanges() {
    return uses.sum();
  }

  /**
   * What this gateway's admissions took so far, per key name: {@code [requests, tokens]}, each
   * growing from 0 at start. Peers debit the growth between two reports.
   */
  public Map<String, long[]> consumption() {
    Map<String, long[]> out = new java.util.HashMap<>();
    byKey.forEach(
        (name, b) -> {
          long r = 0;
          long t = 0;
          if (b.requests != null) {
            synchronized (b.requests) {
              r = b.usedRequests;
            }
          }
          if (b.tokens != null) {
            synchronized (b.tokens) {
              t = b.usedTokens;
            }
          }
          out.put(name, new long[] {r, t});
        });
    return out;
  }

  /**
   * Debits what a peer gateway's admissions of {@code key} took ({@code requests}, {@code tokens})
   * from this gateway's buckets; a bucket may go below zero, delaying this gateway's next admission
   * until it has refilled.
   */
  public void consumedElsewhere(ApiKey key, long requests, long tokens, long nowNanos) {
    RateLimits l = limitsOf(key);
    if (!l.limited()) return;
    Buckets b = buckets(key, nowNanos);
    if (b.requests != null && requests > 0) {
      synchronized (b.requests) {
        // at most one bucket's worth of debt: a peer's backlog after a partition heals must not
        // lock the key out for longer than one refill
        b.requests.charge(Math.min(requests, 2 * b.requests.capacity), nowNanos);
      }
    }
    if (b.tokens != null && tokens > 0) {
      synchronized (b.tokens) {
        b.tokens.charge(Math.min(tokens, 2 * b.tokens.capacity), nowNanos);
      }
    }
  }

  /** How full {@code key}'s budgets are, for metrics: the larger used share of the two, 0..1+. */
  public double utilisation(ApiKey key, long nowNanos) {
    RateLimits l = limitsOf(key);
    if (!l.limited()) return 0;
    Buckets b = buckets(key, nowNanos);
    double u = 0;
    if (b.requests != null) {
      synchronized (b.requests) {
        u = Math.max(u, 1 - b.requests.level(nowNanos) / b.requests.capacity);
      }
    }
    if (b.tokens != null) {
      synchronized (b.tokens) {
        u = Math.max(u, 1 - b.tokens.level(nowNanos) / b.tokens.capacity);
      }
    }
    return u;
  }

  /** A refusal by a budget that refills: what was reached, and when to try again. */
  private Verdict reached(Buckets b, ApiKey key, String by, String detail, long wait, long now) {
    RateLimits l = limitsOf(key);
    String limit =
        by.equals("requests")
            ? "requests per second (RPS): limit " + fmt(l.rps())
            : "tokens per minute (TPM): limit " + l.tpm();
    return refused(
        b,
        by,
        wait,
        "Rate limit reached for key '"
            + key.name()
            + "' on "
            + limit
            + (detail == null ? "" : ", " + detail)
            + ". Please try again in "
            + seconds(wait)
            + ".",
        now);
  }

  private static Verdict allowed(Buckets b, long now) {
    return new Verdict(true, null, b.requestBudget(now), b.tokenBudget(now), 0, null);
  }

  private static Verdict refused(Buckets b, String by, long wait, String message, long now) {
    return new Verdict(false, by, b.requestBudget(now), b.tokenBudget(now), wait, message);
  }

  private static String seconds(long millis) {
    return millis < 1000 ? millis + "ms" : fmt(millis / 1000.0) + "s";
  }

  private static String fmt(double v) {
    return v == Math.rint(v) ? Long.toString((long) v) : String.format("%.3f", v);
  }

  /** A key's two buckets; either is null when that limit is off. */
  private static final class Buckets {
    final Bucket requests;
    final Bucket tokens;
    // What this gateway's admissions took; guarded by the bucket of the same kind.
    long usedRequests;
    long usedTokens;

    Buckets(RateLimits l, long now) {
      requests = l.rps() > 0 ? new Bucket(Math.max(1, l.rps()), l.rps(), now) : null;
      tokens = l.tpm() > 0 ? new Bucket(l.tpm(), l.tpm() / 60.0, now) : null;
    }

    RateLimiter.Budget requestBudget(long now) {
      if (requests == null) return null;
      synchronized (requests) {
        return requests.budget(now);
      }
    }

    RateLimiter.Budget tokenBudget(long now) {
      if (tokens == null) return null;
      synchronized (tokens) {
        return tokens.budget(now);
      }
    }
  }

  /** A token bucket; callers hold its lock. */
  static final class Bucket {
    final double capacity;
    final double perNano;
    private double level;
    private long at;

    Bucket(double capacity, double perSecond, long now) {
      this.capacity = capacity;
      this.perNano = perSecond / 1e9;
      this.level = capacity;
      this.at = now;
    }

    double level(long now) {
      if (now > at) {
        level = Math.min(capacity, level + (now - at) * perNano);
        at = now;
      }
      return level;
    }

    boolean take(double n, long now) {
      if (level(now) < n) return false;
      level -= n;
      return true;
    }

    void charge(double n, long now) {
      level(now);
      level -= n;
    }

    /** Milliseconds until the level reaches {@code n} (at least 1 when it has not yet). */
    long millisUntil(double n, long now) {
      double missing = n - level(now);
      if (missing <= 0) return 0;
      return Math.max(1, (long) Math.ceil(missing / perNano / 1e6));
    }

    RateLimiter.Budget budget(long now) {
      double l = level(now);
      return new RateLimiter.Budget(
          (long) capacity, (long) Math.max(0, Math.floor(l)), millisUntil(capacity, now));
    }
  }
}
