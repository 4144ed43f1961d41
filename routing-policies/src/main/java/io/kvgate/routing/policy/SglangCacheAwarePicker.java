package io.kvgate.routing.policy;

import static io.kvgate.routing.policy.Words.num;

import io.kvgate.routing.EndpointState;
import io.kvgate.routing.Explanation;
import io.kvgate.routing.RoutingRequest;
import io.kvgate.routing.prefix.LruPrefixIndex;
import io.kvgate.routing.prefix.PrefixMatch;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

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
 * LruPrefixIndex} over the request's chained blocks (SGLang matches characters; a block-granular
 * match differs by less than one block), with capacity {@code maxTreeSize} characters per worker
 * (divided by the gateway's block size in characters, known from the first request), LRU by block.
 * It learns only from its own dispatches, like SGLang's router, and never from the gateway's shared
 * index.
 */
final class SglangCacheAwarePicker implements Picker, DispatchAware {

  /**
   * The parameters, named and defaulted as in SGLang's {@code CacheAwareConfig}.
   *
   * @param maxTreeSize characters per worker tree
   */
  record Params(
      @Param(doc = "smallest match rate (matched / prompt) that routes by cache", min = 0, max = 1)
          double cacheThreshold,
      @Param(doc = "imbalance when max − min in-flight exceeds this ...", min = 0, max = 1e9)
          double balanceAbsThreshold,
      @Param(doc = "... and max exceeds this × min: then least-loaded wins", min = 1, max = 1e9)
          double balanceRelThreshold,
      @Param(doc = "characters each worker's approximate tree holds (LRU)", min = 1, max = 1e12)
          long maxTreeSize) {
    static final Params DEFAULTS = new Params(0.5, 32, 1.0001, 1L << 26);
  }

  private final Params params;
  private volatile LruPrefixIndex trees;

  SglangCacheAwarePicker(Params params) {
    this.params = params;
  }

  /** The trees, sized on first use from the chain's block size (characters per block). */
  private LruPrefixIndex trees(RoutingRequest request) {
    LruPrefixIndex t = trees;
    if (t != null) return t;
    synchronized (this) {
      if (trees == null) {
        long blocks = Math.max(1, params.maxTreeSize() / Math.max(1, request.chain().blockSize()));
        trees =
            new LruPrefixIndex(
                LruPrefixIndex.Settings.defaults()
                    .withDefaultCapacityBlocks(blocks)
                    .withTtl(Duration.ofDays(19)));
      }
      return trees;
    }
  }

  /** The rule that chose the first candidate. */
  private enum Rule {
    NOT_KEYED,
    IMBALANCED,
    CACHE,
    SMALLEST_TREE
  }

  @Override
  public void pick(Candidates c, double[] totals, int[] order) {
    order(c, order, true);
  }

  /**
   * SGLang's three rules into {@code order}; returns the one that fired.
   *
   * @param create whether the trees may be built now if they do not exist yet ({@link #pick});
   *     explain passes false and, before the first dispatch, finds what the empty trees would give:
   *     no match anywhere, every tree of size 0
   */
  private Rule order(Candidates c, int[] order, boolean create) {
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
    if (!c.request().keyed()) return Rule.NOT_KEYED;
    if (imbalanced(min, max)) return Rule.IMBALANCED;
    LruPrefixIndex t = create ? trees(c.request()) : trees;
    PrefixMatch m =
        t == null
            ? PrefixMatch.none(c.request().chain().length())
            : t.match(c.request().chain(), c.nowNanos());
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
    Rule rule = Rule.CACHE;
    if (rate <= params.cacheThreshold()) {
      rule = Rule.SMALLEST_TREE;
      long smallest = Long.MAX_VALUE;
      for (int i = 0; i < n; i++) {
        long held = t == null ? 0 : t.heldBlocks(c.get(i).slot());
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
    return rule;
  }

  private boolean imbalanced(double min, double max) {
    return max - min > params.balanceAbsThreshold() && max > params.balanceRelThreshold() * min;
  }

  /**
   * Orders as {@link #pick} without building or touching the trees, and names the rule that fired.
   * Terms per candidate: {@code in_flight}, {@code tree_matched_blocks} (leading prompt blocks its
   * tree holds) and {@code tree_blocks} (its tree's size).
   */
  @Override
  public PickerExplanation explain(Candidates c, double[] totals, int[] order) {
    int n = c.size();
    Rule rule = order(c, order, false);
    LruPrefixIndex t = trees;
    PrefixMatch m =
        t == null || !c.request().keyed()
            ? PrefixMatch.none(c.request().chain().length())
            : t.match(c.request().chain(), c.nowNanos());
    List<List<Explanation.Term>> terms = new ArrayList<>();
    double min = Double.POSITIVE_INFINITY;
    double max = 0;
    for (int i = 0; i < n; i++) {
      EndpointState e = c.get(i);
      min = Math.min(min, e.inFlight());
      max = Math.max(max, e.inFlight());
      terms.add(
          List.of(
              new Explanation.Term("in_flight", e.inFlight()),
              new Explanation.Term("tree_matched_blocks", m.matched(e.slot())),
              new Explanation.Term("tree_blocks", t == null ? 0 : t.heldBlocks(e.slot()))));
    }
    EndpointState w = c.get(order[0]);
    int blocks = m.promptBlocks();
    int matched = m.matched(w.slot());
    double rate = blocks == 0 ? 0 : (double) matched / blocks;
    String reason =
        switch (rule) {
          case NOT_KEYED ->
              "no prompt to match: least in flight first (" + w.id() + ": " + w.inFlight() + ")";
          case IMBALANCED ->
              "load imbalanced (max "
                  + num(max)
                  + " − min "
                  + num(min)
                  + " in flight > balanceAbsThreshold "
                  + num(params.balanceAbsThreshold())
                  + ", and max > balanceRelThreshold "
                  + num(params.balanceRelThreshold())
                  + " × min): least in flight first, cache ignored ("
                  + w.id()
                  + ": "
                  + w.inFlight()
                  + ")";
          case CACHE ->
              "cache match: "
                  + w.id()
                  + "'s tree holds "
                  + matched
                  + " of "
                  + blocks
                  + " prompt blocks, the longest match (rate "
                  + num(rate)
                  + " > cacheThreshold "
                  + num(params.cacheThreshold())
                  + ")";
          case SMALLEST_TREE ->
              "no match above cacheThreshold "
                  + num(params.cacheThreshold())
                  + " (the longest is "
                  + bestMatch(c, m)
                  + " of "
                  + blocks
                  + " blocks): the smallest tree takes it, "
                  + w.id()
                  + "'s with "
                  + (t == null ? 0 : t.heldBlocks(w.slot()))
                  + " blocks";
        };
    return new PickerExplanation(reason, terms);
  }

  private static int bestMatch(Candidates c, PrefixMatch m) {
    int best = 0;
    for (int i = 0; i < c.size(); i++) best = Math.max(best, m.matched(c.get(i).slot()));
    return best;
  }

  @Override
  public void onDispatched(RoutingRequest request, EndpointState endpoint, long nowNanos) {
    if (request.keyed()) trees(request).recordRouted(endpoint.slot(), request.chain(), nowNanos);
  }
}
