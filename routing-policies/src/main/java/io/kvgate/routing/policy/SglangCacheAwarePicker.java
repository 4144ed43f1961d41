package io.kvgate.routing.policy;

import io.kvgate.routing.EndpointState;
import io.kvgate.routing.RoutingRequest;
import io.kvgate.routing.prefix.LruPrefixIndex;
import io.kvgate.routing.prefix.PrefixMatch;
import java.time.Duration;

/**
 * {@code sglang-cache-aware-picker}: the SGLang model gateway's {@code cache_aware} policy,
 * re-implemented from its source (https://github.com/sgl-project/sglang, {@code
 * sgl-model-gateway/src/policies/cache_aware.rs} and {@code tree.rs}; the same algorithm in
 * lightseekorg/smg). Per worker an approximate radix tree of the text routed to it, grown on every
 * dispatch and trimmed to {@code maxTreeSize} by evicting least recently used leaves. Then:
 *
 * <ol>
 *   <li>Loads are the router's own in-flight counts. The system is imbalanced when {@code max − min
 *       > balanceAbsThreshold} and {@code max > balanceRelThreshold · min}: then the least-loaded
 *       worker takes the request, cache ignored.
 *   <li>Otherwise the worker with the longest prefix match wins if match / prompt length exceeds
 *       {@code cacheThreshold};
 *   <li>else the worker with the smallest tree (the one that has seen least) takes it.
 * </ol>
 *
 * <p>Faithful in its decisions, not its data structure: the per-worker trees are a private {@link
 * LruPrefixIndex} over the request's chained blocks of {@code blockSize} characters (SGLang matches
 * characters; a block-granular match differs by less than one block), with capacity {@code
 * maxTreeSize} characters per worker, LRU by block. It learns only from its own dispatches, like
 * SGLang's router, and never from the gateway's shared index.
 */
final class SglangCacheAwarePicker implements Picker, DispatchAware {

  private final double cacheThreshold;
  private final double balanceAbsThreshold;
  private final double balanceRelThreshold;
  private final LruPrefixIndex trees;

  SglangCacheAwarePicker(
      double cacheThreshold,
      double balanceAbsThreshold,
      double balanceRelThreshold,
      long maxTreeSizeBlocks) {
    this.cacheThreshold = cacheThreshold;
    this.balanceAbsThreshold = balanceAbsThreshold;
    this.balanceRelThreshold = balanceRelThreshold;
    this.trees =
        new LruPrefixIndex(
            LruPrefixIndex.Settings.defaults()
                .withDefaultCapacityBlocks(maxTreeSizeBlocks)
                .withTtl(Duration.ofDays(19)));
  }

  @Override
  public void pick(Candidates c, double[] totals, int[] order) {
    int n = c.size();
    double[] loads = new double[n];
    double min = Double.POSITIVE_INFINITY;
    double max = 0;
    for (int i = 0; i < n; i++) {
      loads[i] = c.get(i).inFlight();
      min = Math.min(min, loads[i]);
      max = Math.max(max, loads[i]);
    }
    // The retry order behind the first choice: least loaded first.
    double[] keys = new double[n];
    for (int i = 0; i < n; i++) keys[i] = -loads[i];
    Order.jitter(keys, n, c.context().random());
    Order.descending(keys, order, n);
    boolean imbalanced = max - min > balanceAbsThreshold && max > balanceRelThreshold * min;
    if (imbalanced || !c.request().keyed()) return;
    PrefixMatch m = trees.match(c.request().chain(), c.nowNanos());
    int best = -1;
    int bestMatched = -1;
    for (int i = 0; i < n; i++) {
      int matched = m.matched(c.get(i).slot());
      if (matched > bestMatched) {
        bestMatched = matched;
        best = i;
      }
    }
    double rate = m.promptBlocks() == 0 ? 0 : (double) bestMatched / m.promptBlocks();
    int first = best;
    if (rate <= cacheThreshold) {
      long smallest = Long.MAX_VALUE;
      for (int i = 0; i < n; i++) {
        long held = trees.heldBlocks(c.get(i).slot());
        if (held < smallest) {
          smallest = held;
          first = i;
        }
      }
    }
    int at = 0;
    while (order[at] != first) at++;
    System.arraycopy(order, 0, order, 1, at);
    order[0] = first;
  }

  @Override
  public void onDispatched(RoutingRequest request, EndpointState endpoint, long nowNanos) {
    if (request.keyed()) trees.recordRouted(endpoint.slot(), request.chain(), nowNanos);
  }
}
