package io.kvgate.routing.policy;

import io.kvgate.routing.EndpointState;
import io.kvgate.routing.prefix.PrefixIndex;

/**
 * {@code cache-aware-picker}: kvgate's own policy. Every candidate is priced in the one unit that
 * decides time to first token, prompt tokens still to prefill ahead of and including this request:
 *
 * <pre>
 *   cost(e) = pending(e)                    prefill already dispatched to e, not done
 *           + debt(e)                       recent prefill work beyond e's share, as if queued
 *           + uncached(e)                   this request's prefill on e after its hit
 *             · (1 + insertionWeight · fill(e) + pressureWeight · churn(e))
 * </pre>
 *
 * where {@code pending} is counted at dispatch (not when a response starts), {@code uncached(e)} is
 * the prompt minus the prefix index's predicted hit on e, {@code fill(e)} is how full e's cache is
 * (held over capacity, at most 1), and {@code churn(e)} is e's recent insertion rate (new blocks,
 * decayed) over its capacity, relative to the fleet's mean and clamped to [-1, 1]. The lowest cost
 * goes first.
 *
 * <p>Why these terms. {@code pending} and {@code uncached} make a hit stay on its holder exactly as
 * long as the prefill it saves exceeds the extra queue it waits behind (the eviction price and the
 * wait bound below shift that line): spill only what must spill, and a spill goes to the
 * least-loaded replica by tokens, not requests. The churn factor weighs only the uncached part, the
 * blocks this request will add to e's cache: a full hit pays nothing, a miss is steered to the
 * replicas whose caches churn least, so N small LRU caches fill evenly and behave like one pooled
 * cache instead of the hot replicas evicting the sessions they attracted (docs/ROUTING.md, "Hot
 * replicas evict faster"). The fill factor prices the other half of a spill: the uncached blocks e
 * must insert each evict a block once e is full, which a later request may have hit; {@code
 * insertionWeight} is that expected future prefill per inserted block. Where e has room, inserting
 * evicts nothing, so a hot tenant still spreads onto replicas with free cache at once.
 *
 * <p>The debt term bounds each replica's sustained share of the work. Its recent work is the same
 * decayed new-block count (over its weight); above {@code (1 + balanceSlack)} times the fleet's
 * mean plus {@code balanceFloor} times its capacity, the excess (in tokens, times {@code
 * balanceWeight}) is priced as queue. Where every cache is full the eviction term makes a hot
 * tenant's first copy to a second replica so expensive that, at moderate load, whether it ever
 * happens depends on an early burst; the debt makes it happen once the holder has done more than
 * its share, and the cheapest requests move first (a new session, not a long one's history). The
 * floor keeps a cold fleet, where the first few requests put one replica far above a tiny mean,
 * from spreading shared prefixes for nothing.
 *
 * <p>The wait bound caps what those prices may cost the request itself. Its own time to first token
 * on e, in tokens, is {@code pending(e) + uncached(e)}; a candidate where that exceeds {@code (1 +
 * waitSlackRatio)} times the fastest candidate's plus {@code waitSlackTokens} ranks after every
 * candidate within the bound (in cost order among themselves, for retries). Without it, a hit stays
 * behind any queue shorter than about eight times its cached tokens, such as a first-seen
 * 191k-token document of the Mooncake synthetic trace queued on its holder: the eviction a copy
 * would cause is a real cost, but later requests pay it, while the wait falls on this one. The
 * bound is relative because a copy's cost grows with the prompt: a purely additive slack also moved
 * 17k-34k-token document hits off holders with 67k-88k tokens queued, each copy a second prefill of
 * the document plus the evictions it causes, for a few thousandths of hit rate and no gain at the
 * p99 (docs/BENCHMARKS.md §2, "The wait bound"). {@code waitSlackTokens} 0 turns the bound off.
 */
record CacheAwarePicker(
    @Param(
            doc = "expected future prefill per block inserted into a full cache (eviction price)",
            min = 0,
            max = 100)
        double insertionWeight,
    @Param(doc = "weight of the cache-churn factor on uncached tokens", min = 0, max = 100)
        double pressureWeight,
    @Param(doc = "weight of the work-share debt, priced as queued tokens", min = 0, max = 100)
        double balanceWeight,
    @Param(doc = "share above the fleet's mean work before debt accrues", min = 0, max = 10)
        double balanceSlack,
    @Param(doc = "debt-free work per endpoint, as a fraction of its capacity", min = 0, max = 100)
        double balanceFloor,
    @Param(doc = "additive wait bound in tokens; 0 turns the bound off", min = 0, max = 1e9)
        double waitSlackTokens,
    @Param(
            doc = "relative wait bound: at most (1 + ratio) × the fastest option's wait",
            min = 0,
            max = 1000)
        double waitSlackRatio,
    @Param(
            doc = "softmax temperature relative to the largest cost; 0 = always the cheapest",
            min = 0,
            max = 10)
        double temperature)
    implements Picker, ReadsEndpointFields {

  static final CacheAwarePicker DEFAULTS = new CacheAwarePicker(7, 0.5, 1, 0.2, 0.25, 32768, 3, 0);

  @Override
  public void pick(Candidates c, double[] totals, int[] order) {
    int n = c.size();
    PrefixIndex index = c.context().index();
    long now = c.nowNanos();
    double prompt = c.request().promptTokens();
    double[] pressure = new double[n];
    double[] fill = new double[n];
    double[] work = new double[n];
    double[] capacities = new double[n];
    double meanPressure = 0;
    double meanWork = 0;
    for (int i = 0; i < n; i++) {
      EndpointState e = c.get(i);
      double capacity = Math.max(1, index.capacityBlocks(e.slot()));
      capacities[i] = capacity;
      double inserted = index.recentInsertedBlocks(e.slot(), now);
      pressure[i] = inserted / capacity;
      fill[i] = Math.min(1, index.heldBlocks(e.slot()) / capacity);
      work[i] = inserted / e.endpoint().weight();
      meanPressure += pressure[i];
      meanWork += work[i];
    }
    meanPressure /= n;
    meanWork /= n;
    double workBound = (1 + balanceSlack) * meanWork;
    double tokensPerBlock = c.tokensPerBlock();
    double[] keys = new double[n];
    double[] own = new double[n];
    double[] cost = new double[n];
    double fastest = Double.POSITIVE_INFINITY;
    for (int i = 0; i < n; i++) {
      EndpointState e = c.get(i);
      double churn =
          meanPressure <= 0
              ? 0
              : Math.max(-1, Math.min(1, (pressure[i] - meanPressure) / meanPressure));
      double floor = balanceFloor * capacities[i] / e.endpoint().weight();
      double debt = balanceWeight * Math.max(0, work[i] - workBound - floor) * tokensPerBlock;
      cost[i] =
          e.pendingPrefillTokens() / e.endpoint().weight()
              + (prompt - c.cachedTokens(i))
                  * (1 + insertionWeight * fill[i] + pressureWeight * churn);
      keys[i] = -(cost[i] + debt);
      // This request's own time to first token on e, in tokens: the queue ahead, then its prefill.
      own[i] = e.pendingPrefillTokens() / e.endpoint().weight() + (prompt - c.cachedTokens(i));
      fastest = Math.min(fastest, own[i]);
    }
    // The externalities (eviction, churn, debt) may make this request at most (1 + ratio) times
    // slower than its fastest candidate, plus the slack (no bound when the slack is 0). Candidates
    // beyond that move below every candidate within it, keeping their cost order among themselves
    // (for retries), and are never sampled first.
    double limit =
        waitSlackTokens > 0
            ? fastest * (1 + waitSlackRatio) + waitSlackTokens
            : Double.POSITIVE_INFINITY;
    double lowestWithin = Double.POSITIVE_INFINITY;
    double highestBeyond = Double.NEGATIVE_INFINITY;
    int within = 0;
    for (int i = 0; i < n; i++) {
      if (own[i] > limit) {
        highestBeyond = Math.max(highestBeyond, keys[i]);
      } else {
        lowestWithin = Math.min(lowestWithin, keys[i]);
        within++;
      }
    }
    if (within < n) {
      double shift = Math.min(0, lowestWithin - highestBeyond - 1);
      for (int i = 0; i < n; i++) if (own[i] > limit) keys[i] += shift;
    }
    // The sampling scale leaves out the debt (a large debt must not flatten the others' odds) and
    // the candidates beyond the wait bound.
    double scale = 0;
    for (int i = 0; i < n; i++) {
      if (own[i] <= limit) scale = Math.max(scale, Math.abs(cost[i]));
    }
    // The temperature is relative to the largest cost, so it means the same at any load.
    Order.softmax(keys, order, n, within, temperature * Math.max(1, scale), c.context().random());
  }

  @Override
  public java.util.Set<io.kvgate.routing.EndpointField> endpointFields() {
    return java.util.Set.of(io.kvgate.routing.EndpointField.WEIGHT);
  }

  @Override
  public boolean usesPrefix() {
    return true;
  }
}
