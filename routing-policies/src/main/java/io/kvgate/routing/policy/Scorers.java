package io.kvgate.routing.policy;

import io.kvgate.routing.EndpointState;
import io.kvgate.routing.EngineSignals;
import java.time.Duration;

/** The scorer plugins; each writes scores in [0, 1], 1 the best. */
final class Scorers {

  private Scorers() {}

  /** 1 − v/max over the candidates (all 1 when every value is 0). */
  private static void inverse(double[] values, int n, double[] out) {
    double max = 0;
    for (int i = 0; i < n; i++) max = Math.max(max, values[i]);
    for (int i = 0; i < n; i++) out[i] = max <= 0 ? 1 : 1 - values[i] / max;
  }

  /** {@code prefix-affinity-scorer}: matched blocks / prompt blocks. */
  static final class PrefixAffinityScorer implements Scorer {
    @Override
    public void score(Candidates c, double[] out) {
      int blocks = c.match().promptBlocks();
      for (int i = 0; i < c.size(); i++) out[i] = blocks == 0 ? 0 : (double) c.matched(i) / blocks;
    }

    @Override
    public boolean usesPrefix() {
      return true;
    }
  }

  /**
   * {@code in-flight-scorer}: kvgate's own in-flight requests (cluster-wide when shared), per
   * weight.
   */
  static final class InFlightScorer implements Scorer, ReadsEndpointFields {
    @Override
    public java.util.Set<io.kvgate.routing.EndpointField> endpointFields() {
      return java.util.Set.of(io.kvgate.routing.EndpointField.WEIGHT);
    }

    @Override
    public void score(Candidates c, double[] out) {
      double[] v = new double[c.size()];
      for (int i = 0; i < c.size(); i++) v[i] = c.get(i).inFlight() / c.get(i).endpoint().weight();
      inverse(v, c.size(), out);
    }
  }

  /**
   * {@code pending-prefill-scorer}: prompt tokens dispatched and not yet prefilled, counted at
   * dispatch.
   */
  static final class PendingPrefillScorer implements Scorer, ReadsEndpointFields {
    @Override
    public java.util.Set<io.kvgate.routing.EndpointField> endpointFields() {
      return java.util.Set.of(io.kvgate.routing.EndpointField.WEIGHT);
    }

    @Override
    public void score(Candidates c, double[] out) {
      double[] v = new double[c.size()];
      for (int i = 0; i < c.size(); i++)
        v[i] = c.get(i).pendingPrefillTokens() / c.get(i).endpoint().weight();
      inverse(v, c.size(), out);
    }
  }

  /**
   * {@code decode-tokens-scorer}: completion tokens the requests in flight may still generate
   * (their limits, counted at dispatch, released at their end), per weight: the decode work ahead.
   */
  static final class DecodeTokensScorer implements Scorer, ReadsEndpointFields {
    @Override
    public java.util.Set<io.kvgate.routing.EndpointField> endpointFields() {
      return java.util.Set.of(io.kvgate.routing.EndpointField.WEIGHT);
    }

    @Override
    public void score(Candidates c, double[] out) {
      double[] v = new double[c.size()];
      for (int i = 0; i < c.size(); i++)
        v[i] = c.get(i).decodeTokens() / c.get(i).endpoint().weight();
      inverse(v, c.size(), out);
    }
  }

  /**
   * {@code queue-scorer}: the engine's waiting requests from its last fresh scrape; when the scrape
   * is older than {@code maxSignalAge}, kvgate's own in-flight count stands in.
   */
  record QueueScorer(@Param(doc = "engine signals older than this are stale") Duration maxSignalAge)
      implements Scorer {
    static final QueueScorer DEFAULTS = new QueueScorer(Duration.ofSeconds(5));

    @Override
    public void score(Candidates c, double[] out) {
      double[] v = new double[c.size()];
      for (int i = 0; i < c.size(); i++) {
        EndpointState e = c.get(i);
        EngineSignals s = e.signals();
        v[i] = s.isStale(c.nowNanos(), maxSignalAge.toNanos()) ? e.inFlight() : s.waiting();
      }
      inverse(v, c.size(), out);
    }
  }

  /** {@code kv-cache-scorer}: 1 − the engine's KV usage (0.5 when the scrape is stale). */
  record KvCacheScorer(
      @Param(doc = "engine signals older than this are stale") Duration maxSignalAge)
      implements Scorer {
    static final KvCacheScorer DEFAULTS = new KvCacheScorer(Duration.ofSeconds(5));

    @Override
    public void score(Candidates c, double[] out) {
      for (int i = 0; i < c.size(); i++) {
        EngineSignals s = c.get(i).signals();
        out[i] =
            s.isStale(c.nowNanos(), maxSignalAge.toNanos())
                ? 0.5
                : 1 - Math.min(1, Math.max(0, s.kvCacheUsage()));
      }
    }
  }

  /**
   * {@code session-affinity-scorer}: 1 for the endpoint the request's session key maps to by
   * rendezvous hashing (stable as endpoints come and go), 0 elsewhere; 0 everywhere without a key.
   */
  static final class SessionAffinityScorer implements Scorer {
    @Override
    public void score(Candidates c, double[] out) {
      String key = c.request().sessionKey();
      java.util.Arrays.fill(out, 0, c.size(), 0);
      if (key == null) return;
      out[Rendezvous.best(key, c.endpoints())] = 1;
    }
  }
}
