package io.kvgate.routing.policy;

import static io.kvgate.routing.policy.Words.num;

import io.kvgate.routing.EndpointState;
import io.kvgate.routing.Explanation;
import io.kvgate.routing.prefix.PrefixIndex;
import java.util.ArrayList;
import java.util.List;

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
    order(c, prices(c), order);
  }

  /** Orders by the prices: the cheapest within the wait bound first (or sampled among those). */
  private void order(Candidates c, Prices p, int[] order) {
    // The temperature is relative to the largest cost, so it means the same at any load.
    Order.softmax(
        p.keys,
        order,
        c.size(),
        p.within,
        temperature * Math.max(1, p.scale),
        c.context().random());
  }

  /**
   * One decision's prices, computed once and shared by {@link #pick} and {@link #explain} so that
   * both order alike. Per candidate: {@code keys} (minus price, shifted below every candidate
   * within the wait bound for those beyond it), {@code cost} (price without debt), {@code own} (its
   * own wait in tokens), {@code fill}, {@code churn} and {@code debt}.
   */
  private record Prices(
      double[] keys,
      double[] cost,
      double[] own,
      double[] fill,
      double[] churn,
      double[] debt,
      double fastest,
      double limit,
      int within,
      double scale) {}

  private Prices prices(Candidates c) {
    int n = c.size();
    PrefixIndex index = c.context().index();
    long now = c.nowNanos();
    double prompt = c.request().promptTokens();
    // pressure[i] becomes churn[i], and work[i] debt[i], once the fleet's means are known.
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
    double[] churn = pressure;
    double[] debt = work;
    double[] keys = new double[n];
    double[] own = new double[n];
    double[] cost = new double[n];
    double fastest = Double.POSITIVE_INFINITY;
    for (int i = 0; i < n; i++) {
      EndpointState e = c.get(i);
      churn[i] =
          meanPressure <= 0
              ? 0
              : Math.max(-1, Math.min(1, (pressure[i] - meanPressure) / meanPressure));
      double floor = balanceFloor * capacities[i] / e.endpoint().weight();
      debt[i] = balanceWeight * Math.max(0, work[i] - workBound - floor) * tokensPerBlock;
      cost[i] =
          e.pendingPrefillTokens() / e.endpoint().weight()
              + (prompt - c.cachedTokens(i))
                  * (1 + insertionWeight * fill[i] + pressureWeight * churn[i]);
      keys[i] = -(cost[i] + debt[i]);
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
    return new Prices(keys, cost, own, fill, churn, debt, fastest, limit, within, scale);
  }

  /**
   * Orders as {@link #pick} and names the rule that put the winner first: the lowest price and the
   * term that separated it from the runner-up (the queue, the cache hit, the eviction and churn
   * price, the work-share debt), the wait bound, or the sampling. Terms per candidate, in tokens:
   * {@code price} (what the picker minimises: {@code queue + uncached × factor + debt}), {@code
   * queue} (pending prefill per unit of weight), {@code uncached} (this prompt's tokens not cached
   * there), {@code factor} ({@code 1 + insertionWeight · fill + pressureWeight · churn}), {@code
   * debt}, {@code wait} (its own time to first token, {@code queue + uncached}) and {@code
   * beyond_wait_bound} (1 or 0).
   */
  @Override
  public PickerExplanation explain(Candidates c, double[] totals, int[] order) {
    int n = c.size();
    Prices p = prices(c);
    double prompt = c.request().promptTokens();
    double[] queue = new double[n];
    double[] uncached = new double[n];
    double[] factor = new double[n];
    double[] price = new double[n];
    List<List<Explanation.Term>> terms = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      EndpointState e = c.get(i);
      queue[i] = e.pendingPrefillTokens() / e.endpoint().weight();
      uncached[i] = prompt - c.cachedTokens(i);
      factor[i] = 1 + insertionWeight * p.fill[i] + pressureWeight * p.churn[i];
      price[i] = p.cost[i] + p.debt[i];
      terms.add(
          List.of(
              new Explanation.Term("price", price[i]),
              new Explanation.Term("queue", queue[i]),
              new Explanation.Term("uncached", uncached[i]),
              new Explanation.Term("factor", factor[i]),
              new Explanation.Term("debt", p.debt[i]),
              new Explanation.Term("wait", p.own[i]),
              new Explanation.Term("beyond_wait_bound", p.own[i] > p.limit ? 1 : 0)));
    }
    order(c, p, order);
    if (n < 2) return new PickerExplanation("the only candidate, at price " + num(price[0]), terms);
    int w = order[0];
    int u = order[1];
    String bound =
        "(1 + waitSlackRatio "
            + num(waitSlackRatio)
            + ") × the fastest "
            + num(p.fastest)
            + " + waitSlackTokens "
            + num(waitSlackTokens)
            + " = "
            + num(p.limit)
            + " tokens";
    StringBuilder sb = new StringBuilder();
    boolean boundDecided = false;
    if (temperature > 0 && p.within >= 2) {
      double t = temperature * Math.max(1, p.scale);
      int cheapest = -1;
      for (int i = 0; i < n; i++) {
        if (p.own[i] <= p.limit && (cheapest < 0 || price[i] < price[cheapest])) cheapest = i;
      }
      double sum = 0;
      for (int i = 0; i < n; i++) {
        if (p.own[i] <= p.limit) sum += Math.exp((price[cheapest] - price[i]) / t);
      }
      sb.append("sampled at temperature ")
          .append(num(temperature))
          .append(" × the largest cost ")
          .append(num(Math.max(1, p.scale)))
          .append(": drew ")
          .append(c.get(w).id())
          .append(" at price ")
          .append(num(price[w]))
          .append(" with probability ")
          .append(num(Math.exp((price[cheapest] - price[w]) / t) / sum));
      if (cheapest != w) {
        sb.append("; the cheapest, ")
            .append(c.get(cheapest).id())
            .append(" at ")
            .append(num(price[cheapest]))
            .append(", had ")
            .append(num(1 / sum));
      }
    } else if (p.own[u] > p.limit && p.own[w] <= p.limit && price[u] < price[w]) {
      boundDecided = true;
      sb.append("the wait bound: ")
          .append(c.get(u).id())
          .append(" was priced lower (")
          .append(num(price[u]))
          .append(" against ")
          .append(num(price[w]))
          .append(" tokens), but its own wait of ")
          .append(num(p.own[u]))
          .append(" tokens exceeds ")
          .append(bound)
          .append("; ")
          .append(c.get(w).id())
          .append(" waits ")
          .append(num(p.own[w]));
    } else {
      sb.append("lowest price: ")
          .append(c.get(w).id())
          .append(" at ")
          .append(priceWords(price[w], queue[w], uncached[w], factor[w], p.debt[w]))
          .append(" against runner-up ")
          .append(c.get(u).id())
          .append("'s ")
          .append(priceWords(price[u], queue[u], uncached[u], factor[u], p.debt[u]));
      double[] gaps = {
        queue[u] - queue[w],
        uncached[u] - uncached[w],
        uncached[u] * (factor[u] - 1) - uncached[w] * (factor[w] - 1),
        p.debt[u] - p.debt[w]
      };
      int most = 0;
      for (int k = 1; k < gaps.length; k++) if (gaps[k] > gaps[most]) most = k;
      if (gaps[most] > 0) {
        String what =
            switch (most) {
              case 0 -> "the queue ahead (pending prefill)";
              case 1 ->
                  "the cache hit ("
                      + c.get(w).id()
                      + " holds "
                      + c.matched(w)
                      + " of "
                      + c.match().promptBlocks()
                      + " prompt blocks, "
                      + c.get(u).id()
                      + " "
                      + c.matched(u)
                      + ")";
              case 2 -> "the eviction and churn price of the blocks it would insert";
              default ->
                  "the work-share debt ("
                      + c.get(u).id()
                      + " did more than its share of recent work)";
            };
        sb.append("; ").append(what).append(" separated them most, by ").append(num(gaps[most]));
        sb.append(" tokens");
      }
    }
    if (p.within < n && !boundDecided) {
      List<String> beyond = new ArrayList<>();
      for (int k = 0; k < n; k++) if (p.own[order[k]] > p.limit) beyond.add(c.get(order[k]).id());
      sb.append("; beyond the wait bound of ")
          .append(bound)
          .append(", ranked last: ")
          .append(Words.list(beyond));
    }
    return new PickerExplanation(sb.toString(), terms);
  }

  private static String priceWords(
      double price, double queue, double uncached, double factor, double debt) {
    return num(price)
        + " tokens (queue "
        + num(queue)
        + " + uncached "
        + num(uncached)
        + " × "
        + num(factor)
        + " + debt "
        + num(debt)
        + ")";
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
