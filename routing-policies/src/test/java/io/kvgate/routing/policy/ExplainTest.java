package io.kvgate.routing.policy;

import static io.kvgate.routing.policy.PolicyPluginsTest.NOW;
import static io.kvgate.routing.policy.PolicyPluginsTest.compile;
import static io.kvgate.routing.policy.PolicyPluginsTest.context;
import static io.kvgate.routing.policy.PolicyPluginsTest.fleet;
import static io.kvgate.routing.policy.PolicyPluginsTest.ids;
import static io.kvgate.routing.policy.PolicyPluginsTest.request;
import static org.junit.jupiter.api.Assertions.*;

import io.kvgate.routing.Decision;
import io.kvgate.routing.EndpointState;
import io.kvgate.routing.Explanation;
import io.kvgate.routing.Router;
import io.kvgate.routing.RoutingRequest;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * {@link Router#explain}: the ranking {@code route} makes at that moment, every endpoint's row, the
 * rule that chose the winner in words, and no effect on routing state.
 */
class ExplainTest {

  static final String DOC = "A shared contract, clause after clause. ".repeat(80);

  /** Distinct loads everywhere, so that no policy's order depends on a random tie-break. */
  static List<EndpointState> loaded(int n) {
    List<EndpointState> fleet = fleet(n);
    for (int i = 0; i < n; i++) {
      for (int k = 0; k <= i; k++) fleet.get(i).acquire(100L * (i + 1) + k, 300, 50L * (n - i));
    }
    return fleet;
  }

  static String reason(Explanation x) {
    return x.reason();
  }

  @Test
  void explainRanksAsRouteDoesForEveryDeterministicPreset() throws Exception {
    for (String preset : Policies.presetNames()) {
      if (preset.equals("random")) continue;
      List<EndpointState> fleet = loaded(4);
      RoutingContext ctx = context();
      Router r = Policies.load(preset, ctx);
      RoutingRequest held = request(DOC + "q1", "session-1", null);
      r.onDispatched(held, fleet.get(2), NOW);
      RoutingRequest next = request(DOC + "q2", "session-1", null);
      Explanation x = r.explain(next, fleet, NOW);
      Decision d = r.route(next, fleet, NOW);
      assertEquals(ids(d), x.ranking(), preset + ": " + x.reason());
      assertEquals(ids(d), ids(x.decision()), preset);
      assertEquals(d.first().endpoint().id(), x.winner(), preset);
      assertEquals(preset, x.policy());
      assertEquals("m", x.model());
      assertEquals(next.chain().length(), x.promptBlocks());
      assertEquals(64, x.blockSize());
      assertEquals(4, x.rows().size(), preset);
      for (int k = 0; k < 4; k++) assertEquals(k + 1, x.rows().get(k).rank(), preset);
      assertTrue(x.reason().startsWith(x.winner() + " won: "), preset + ": " + x.reason());
    }
  }

  @Test
  void explainWritesNothingAcquiresNothingAndLeavesTheRandomSequence() throws Exception {
    for (String preset : Policies.presetNames()) {
      PolicyContractsTest.CountingIndex index = new PolicyContractsTest.CountingIndex();
      List<EndpointState> fleet = loaded(3);
      RoutingRequest a = request(DOC + "q1", "s", null);
      index.recordRouted(1, a.chain(), NOW - 1_000_000_000L);
      // Two policies with equally seeded randoms: one explains between its decisions.
      Router quiet = Policies.load(preset, new RoutingContext("m", index, new SplittableRandom(5)));
      Router talking =
          Policies.load(preset, new RoutingContext("m", index, new SplittableRandom(5)));
      long size = index.size();
      double inserted = index.recentInsertedBlocks(1, NOW);
      int routed = index.routed.get();
      List<Integer> inFlight = fleet.stream().map(EndpointState::inFlight).toList();
      for (int i = 0; i < 5; i++) {
        RoutingRequest q = request(DOC + "q" + (i + 2), i % 2 == 0 ? "s" : null, null);
        talking.explain(q, fleet, NOW);
        talking.explain(q, fleet, NOW);
        assertEquals(ids(quiet.route(q, fleet, NOW)), ids(talking.route(q, fleet, NOW)), preset);
      }
      assertEquals(routed, index.routed.get(), preset + " wrote the index");
      assertEquals(size, index.size(), preset);
      assertEquals(inserted, index.recentInsertedBlocks(1, NOW), preset);
      assertEquals(inFlight, fleet.stream().map(EndpointState::inFlight).toList(), preset);
    }
  }

  @Test
  void cacheAwareNamesTheHolderOfThePromptAndTheCacheHit() throws Exception {
    List<EndpointState> fleet = fleet(3);
    RoutingContext ctx = context();
    Router r = Policies.load("cache-aware", ctx);
    RoutingRequest first = request(DOC + "q1", null, null);
    r.onDispatched(first, fleet.get(2), NOW);
    RoutingRequest next = request(DOC + "q2", null, null);
    Explanation x = r.explain(next, fleet, NOW);
    assertEquals("e2", x.winner());
    assertEquals("e2", r.route(next, fleet, NOW).first().endpoint().id());
    Explanation.Row holder = x.row("e2");
    assertEquals(1, holder.rank());
    assertTrue(holder.matchedBlocks() > 40, "matched " + holder.matchedBlocks());
    assertEquals(0, x.row("e1").matchedBlocks());
    assertTrue(holder.term("price") < x.row("e1").term("price"));
    assertEquals(
        holder.term("queue")
            + holder.term("uncached") * holder.term("factor")
            + holder.term("debt"),
        holder.term("price"),
        1e-6);
    assertEquals(0.0, holder.score(), "no scorers: the picker's terms carry the prices");
    assertTrue(holder.scorers().isEmpty());
    assertTrue(reason(x).contains("cache-aware-picker: lowest price: e2 at"), reason(x));
    assertTrue(reason(x).contains("the cache hit (e2 holds"), reason(x));
  }

  @Test
  void cacheAwareNamesTheQueueWhenTheHolderIsBusy() throws Exception {
    List<EndpointState> fleet = fleet(2);
    RoutingContext ctx = context();
    Router r = Policies.load("cache-aware", ctx);
    r.onDispatched(request(DOC + "q1", null, null), fleet.get(0), NOW);
    fleet.get(0).acquire(2_000_000, 2_000_000);
    RoutingRequest next = request(DOC + "q2", null, null);
    Explanation x = r.explain(next, fleet, NOW);
    assertEquals("e1", x.winner(), reason(x));
    assertEquals(ids(r.route(next, fleet, NOW)), x.ranking());
    assertTrue(reason(x).contains("the queue ahead (pending prefill) separated them"), reason(x));
    assertTrue(reason(x).contains("beyond the wait bound"), reason(x));
    assertEquals(1.0, x.row("e0").term("beyond_wait_bound"));
  }

  @Test
  void cacheAwareSaysWhenTheWaitBoundDecided() throws Exception {
    long past = NOW - 300_000_000_000L;
    List<EndpointState> fleet = fleet(2);
    RoutingContext ctx = context();
    // Full caches: a copy of the document to e1 is priced at its eviction cost.
    for (int slot = 0; slot < 2; slot++) {
      ctx.index().setCapacityBlocks(slot, 400);
      for (int i = 0; i < 40; i++)
        ctx.index()
            .recordRouted(
                slot, request("old " + slot + "/" + i + " ".repeat(640), null, null).chain(), past);
    }
    ctx.index().recordRouted(0, request(DOC, null, null).chain(), past);
    RoutingRequest next = request(DOC + "next question", null, null);
    long prompt = next.promptTokens();
    fleet.get(0).acquire(3 * prompt, 3 * prompt);
    Router r =
        compile(
            "plugins: [{type: cache-aware-picker, parameters: {waitSlackTokens: "
                + prompt
                + ", waitSlackRatio: 0}}]\n"
                + "profiles: [{name: default, plugins: [cache-aware-picker]}]",
            ctx);
    Explanation x = r.explain(next, fleet, NOW);
    assertEquals("e1", x.winner(), reason(x));
    assertEquals(ids(r.route(next, fleet, NOW)), x.ranking());
    assertTrue(reason(x).contains("the wait bound: e0 was priced lower"), reason(x));
    assertTrue(x.row("e0").term("price") < x.row("e1").term("price"));
  }

  @Test
  void cacheAwareNamesTheWorkShareDebt() throws Exception {
    long past = NOW - 300_000_000_000L;
    String system = "Hot tenant's system prompt, long and shared. ".repeat(60);
    List<EndpointState> fleet = fleet(2);
    RoutingContext ctx = context();
    for (int slot = 0; slot < 2; slot++) {
      ctx.index().setCapacityBlocks(slot, 400);
      for (int i = 0; i < 40; i++)
        ctx.index()
            .recordRouted(
                slot, request("old " + slot + "/" + i + " ".repeat(640), null, null).chain(), past);
      for (int i = 0; i < 20; i++)
        ctx.index()
            .recordRouted(
                slot,
                request("recent " + slot + "/" + i + " ".repeat(1_000), null, null).chain(),
                NOW);
    }
    for (int i = 0; i < 200; i++)
      ctx.index()
          .recordRouted(0, request("extra " + i + " ".repeat(1_000), null, null).chain(), NOW);
    ctx.index().recordRouted(0, request(system, null, null).chain(), NOW);
    Router r = Policies.load("cache-aware", ctx);
    RoutingRequest next = request(system + "next question", null, null);
    Explanation x = r.explain(next, fleet, NOW);
    assertEquals("e1", x.winner(), reason(x));
    assertEquals(ids(r.route(next, fleet, NOW)), x.ranking());
    assertTrue(x.row("e0").term("debt") > 0);
    assertTrue(reason(x).contains("the work-share debt (e0 did more than its share"), reason(x));
  }

  @Test
  void cacheAwareSaysWhenItSampled() throws Exception {
    List<EndpointState> fleet = fleet(3);
    Router r =
        compile(
            "plugins: [{type: cache-aware-picker, parameters: {temperature: 5}}]\n"
                + "profiles: [{name: default, plugins: [cache-aware-picker]}]",
            context());
    Explanation x = r.explain(request(DOC, null, null), fleet, NOW);
    assertTrue(reason(x).contains("sampled at temperature 5"), reason(x));
    assertTrue(reason(x).contains("with probability"), reason(x));
  }

  @Test
  void sglangNamesEachOfItsThreeRules() throws Exception {
    List<EndpointState> fleet = fleet(3);
    fleet.get(0).acquire(1); // distinct loads: the retry order behind the first has no tie
    fleet.get(2).acquire(1);
    fleet.get(2).acquire(1);
    Router r = Policies.load("sglang-cache-aware", context());
    RoutingRequest first = request(DOC + "q1", null, null);
    // Before any dispatch: no tree yet, explain builds none; the smallest tree rule.
    Explanation cold = r.explain(first, fleet, NOW);
    assertTrue(
        reason(cold).contains("the smallest tree takes it, e0's with 0 blocks"), reason(cold));
    assertEquals(ids(r.route(first, fleet, NOW)), cold.ranking());
    r.onDispatched(first, fleet.get(1), NOW);

    RoutingRequest hit = request(DOC + "q2", null, null);
    Explanation cache = r.explain(hit, fleet, NOW);
    assertEquals("e1", cache.winner());
    assertTrue(reason(cache).contains("cache match: e1's tree holds"), reason(cache));
    assertTrue(cache.row("e1").term("tree_matched_blocks") > 40);
    assertEquals(ids(r.route(hit, fleet, NOW)), cache.ranking());

    Explanation miss = r.explain(request("unrelated ".repeat(300), null, null), fleet, NOW);
    assertNotEquals("e1", miss.winner());
    assertTrue(reason(miss).contains("no match above cacheThreshold 0.5"), reason(miss));

    for (int i = 0; i < 40; i++) fleet.get(1).acquire(1, 1);
    Explanation busy = r.explain(hit, fleet, NOW);
    assertNotEquals("e1", busy.winner());
    assertTrue(reason(busy).contains("load imbalanced (max 40 − min 1 in flight"), reason(busy));
    assertEquals(40.0, busy.row("e1").term("in_flight"));

    Explanation unkeyed = r.explain(RoutingRequest.unkeyed("m"), fleet, NOW);
    assertTrue(reason(unkeyed).contains("no prompt to match: least in flight first"));
    assertEquals(0, unkeyed.promptBlocks());
    assertEquals(0, unkeyed.blockSize());
  }

  @Test
  void dynamoComparesLogits() throws Exception {
    List<EndpointState> fleet = fleet(2);
    RoutingContext ctx = context();
    Router r = Policies.load("dynamo-kv", ctx);
    r.onDispatched(request(DOC + "q1", null, null), fleet.get(1), NOW);
    Explanation x = r.explain(request(DOC + "q2", null, null), fleet, NOW);
    assertEquals("e1", x.winner());
    assertTrue(reason(x).contains("lowest logit: e1 at"), reason(x));
    assertTrue(
        reason(x)
            .contains("prefill blocks (this request's uncached blocks plus the queued prefill)"),
        reason(x));
    assertTrue(
        reason(x).contains("(cached: e1 " + x.row("e1").matchedBlocks() + " of "), reason(x));
    assertTrue(x.row("e1").term("logit") < x.row("e0").term("logit"));
  }

  @Test
  void scoringPoliciesNameTheScorerThatSeparatedWinnerAndRunnerUp() throws Exception {
    List<EndpointState> fleet = fleet(3);
    fleet.get(0).acquire(5_000);
    fleet.get(1).acquire(1_000);
    fleet.get(2).acquire(100);
    Router r = Policies.load("least-loaded", context());
    Explanation x = r.explain(request("hello there", null, null), fleet, NOW);
    assertEquals("e2", x.winner());
    Explanation.Row e2 = x.row("e2");
    assertEquals(
        List.of("pending-prefill-scorer", "in-flight-scorer", "queue-scorer"),
        e2.scorers().stream().map(Explanation.ScorerScore::scorer).toList());
    assertEquals(
        List.of(2.0, 1.0, 1.0),
        e2.scorers().stream().map(Explanation.ScorerScore::weight).toList());
    double total = 0;
    for (Explanation.ScorerScore s : e2.scorers()) total += s.weight() * s.score();
    assertEquals(total, e2.score(), 1e-9);
    assertEquals(1.96, e2.score(), 1e-9);
    assertTrue(
        reason(x)
            .contains(
                "max-score-picker: the highest weighted score first; weighted score 1.96 against"
                    + " runner-up e1's 1.6, separated most by pending-prefill-scorer (0.98 against"
                    + " 0.8 at weight 2)"),
        reason(x));

    Explanation tie = r.explain(request("hello there", null, null), fleet(3), NOW);
    assertTrue(reason(tie).contains("e0, e1, e2 tie at 4, broken at random"), reason(tie));
  }

  @Test
  void softmaxSaysWhatItDrew() throws Exception {
    List<EndpointState> fleet = fleet(3);
    fleet.get(0).acquire(100);
    Router r =
        compile(
            "plugins: [{type: in-flight-scorer}, {type: softmax-picker, parameters: {temperature: 10}}]\n"
                + "profiles: [{name: default, plugins: [in-flight-scorer, softmax-picker]}]",
            context());
    Explanation x = r.explain(request("a", null, null), fleet, NOW);
    assertTrue(reason(x).contains("softmax-picker: sampled at temperature 10: drew "), reason(x));
  }

  @Test
  void roundRobinExplainsTheNextTurnWithoutTakingIt() throws Exception {
    List<EndpointState> fleet = fleet(3);
    Router r = Policies.load("round-robin", context());
    for (int turn = 0; turn < 4; turn++) {
      Explanation x = r.explain(request("a", null, null), fleet, NOW);
      assertEquals(x.ranking(), r.explain(request("a", null, null), fleet, NOW).ranking());
      assertEquals(ids(r.route(request("a", null, null), fleet, NOW)), x.ranking());
      assertTrue(reason(x).contains("(turn " + turn + ")"), reason(x));
    }
  }

  @Test
  void boundedLoadHashSaysWhetherTheKeysFirstChoiceTookIt() throws Exception {
    List<EndpointState> fleet = fleet(3);
    Router r = Policies.load("session-affinity", context());
    RoutingRequest q = request("hello", "user-7", null);
    Explanation x = r.explain(q, fleet, NOW);
    String first = x.winner();
    assertTrue(
        reason(x).contains("the session key hashes first to " + first + ", within"), reason(x));
    assertEquals(1.0, x.row(first).term("hash_choice"));
    EndpointState holder = fleet.stream().filter(e -> e.id().equals(first)).findFirst().get();
    for (int i = 0; i < 10; i++) holder.acquire(1);
    Explanation spilled = r.explain(q, fleet, NOW);
    assertNotEquals(first, spilled.winner());
    assertEquals(ids(r.route(q, fleet, NOW)), spilled.ranking());
    assertTrue(
        reason(spilled).contains("over the load bound (10 in flight > c × mean"), reason(spilled));
    assertTrue(reason(spilled).contains("its choice #2"), reason(spilled));
  }

  @Test
  void filteredEndpointsNameTheirFilterByItsConfiguredName() throws Exception {
    List<EndpointState> fleet = fleet(4);
    fleet.get(3).setHealthy(false);
    RoutingContext ctx = context();
    Router r =
        compile(
            """
            plugins: [{name: alive, type: healthy-filter}, {type: lora-filter}, {type: round-robin-picker}]
            profiles: [{name: default, plugins: [alive, lora-filter, round-robin-picker]}]
            """,
            ctx);
    RoutingRequest q = request(DOC, null, "sql-lora");
    ctx.index().recordRouted(3, q.chain(), NOW);
    Explanation x = r.explain(q, fleet, NOW);
    assertEquals("e1", x.winner(), "only e1 has the adapter");
    assertEquals(List.of("e1"), x.ranking());
    assertEquals("alive", x.row("e3").filteredBy());
    assertEquals(0, x.row("e3").rank());
    assertEquals("lora-filter", x.row("e0").filteredBy());
    assertEquals("lora-filter", x.row("e2").filteredBy());
    assertNull(x.row("e1").filteredBy());
    assertEquals(
        q.chain().length(),
        x.row("e3").matchedBlocks(),
        "the index's view, though this policy ignores it and e3 is filtered out");
    assertTrue(
        reason(x)
            .contains(
                "e1 won: the only candidate. Filtered out: e0 by lora-filter, e2 by"
                    + " lora-filter, e3 by alive."),
        reason(x));
    // Rows: ranked first, then the filtered in the order given.
    assertEquals(
        List.of("e1", "e0", "e2", "e3"), x.rows().stream().map(Explanation.Row::endpoint).toList());

    for (EndpointState e : fleet) e.setHealthy(false);
    Explanation none = r.explain(q, fleet, NOW);
    assertNull(none.winner());
    assertTrue(none.decision().isEmpty());
    assertTrue(
        reason(none).startsWith("no winner: alive left no endpoint (e0 by alive, e1 by alive"),
        reason(none));
    assertEquals("no winner: the model has no endpoints", r.explain(q, List.of(), NOW).reason());
  }

  @Test
  void tiersNameTheChosenTierAndWhyItFailedOver() throws Exception {
    List<EndpointState> fleet = TierRoutingTest.fleet();
    for (int i = 0; i < fleet.size(); i++) fleet.get(i).acquire(10L * (i + 1)); // no price ties
    Router r = TierRoutingTest.tiers("", "cache-aware-picker", context());
    RoutingRequest q = request("hello", null, null);
    Explanation x = r.explain(q, fleet, NOW);
    assertEquals(ids(r.route(q, fleet, NOW)), x.ranking());
    assertEquals(
        List.of("aws", "aws", "gcp", "gcp", "untiered"),
        x.rows().stream().map(Explanation.Row::tier).toList());
    assertTrue(
        reason(x).startsWith(x.winner() + " won in tier aws: cache-aware-picker: "), reason(x));

    TierRoutingTest.byId(fleet, "a0").setHealthy(false);
    TierRoutingTest.byId(fleet, "a1").setHealthy(false);
    Explanation failover = r.explain(q, fleet, NOW);
    assertTrue(
        reason(failover)
            .contains("won in tier gcp (failover: no more preferred tier had an endpoint"),
        reason(failover));
    assertEquals("healthy-filter", failover.row("a0").filteredBy());
    assertNull(failover.row("a0").tier());

    List<EndpointState> busy = TierRoutingTest.fleet();
    Router saturating = TierRoutingTest.tiers(", maxInFlight: 1", "cache-aware-picker", context());
    TierRoutingTest.byId(busy, "a0").acquire(1);
    TierRoutingTest.byId(busy, "a1").acquire(1);
    Explanation saturated = saturating.explain(q, busy, NOW);
    assertTrue(
        reason(saturated)
            .contains("(failover: every endpoint of a more preferred tier is saturated)"),
        reason(saturated));
    assertEquals("aws", saturated.row("a0").tier());
    assertTrue(saturated.row("a0").rank() > 2);
  }

  @Test
  void theDefaultExplainsARouterFromItsRankingAlone() {
    List<EndpointState> fleet = fleet(3);
    Router fixed =
        new Router() {
          @Override
          public String name() {
            return "fixed";
          }

          @Override
          public Decision route(RoutingRequest request, List<EndpointState> endpoints, long now) {
            return new Decision(
                List.of(
                    new Decision.Candidate(endpoints.get(2), 0.9, 7),
                    new Decision.Candidate(endpoints.get(0), 0.4, 0)),
                request.chain().length(),
                "fixed");
          }

          @Override
          public void onDispatched(RoutingRequest request, EndpointState endpoint, long now) {
            throw new AssertionError("explain must not dispatch");
          }
        };
    RoutingRequest q = request(DOC, null, null);
    Explanation x = fixed.explain(q, fleet, NOW);
    assertEquals("e2", x.winner());
    assertEquals(List.of("e2", "e0"), x.ranking());
    Explanation.Row e2 = x.row("e2");
    assertEquals(new Explanation.Row("e2", null, 1, null, 7, 0.9, List.of(), List.of(), null), e2);
    Explanation.Row e1 = x.row("e1");
    assertEquals(0, e1.rank());
    assertNull(e1.filteredBy(), "the default cannot say which filter");
    assertEquals(
        "e2 ranked first by fixed; this router explains no more than its ranking", x.reason());

    Router empty =
        new Router() {
          @Override
          public String name() {
            return "empty";
          }

          @Override
          public Decision route(RoutingRequest request, List<EndpointState> endpoints, long now) {
            return Decision.none("nothing healthy");
          }

          @Override
          public void onDispatched(RoutingRequest request, EndpointState endpoint, long now) {}
        };
    Explanation none = empty.explain(q, fleet, NOW);
    assertNull(none.winner());
    assertEquals("no winner: nothing healthy", none.reason());
    assertEquals(3, none.rows().size());
  }

  @Test
  void aPickerWithoutItsOwnExplainIsOrderedByItsPick() throws Exception {
    PluginRegistry registry =
        PluginRegistry.builtIn()
            .withPicker(
                "reverse-picker",
                "the last candidate first",
                PluginRegistry.None.class,
                PluginRegistry.None.DEFAULTS,
                p ->
                    (c, totals, order) -> {
                      for (int i = 0; i < c.size(); i++) order[i] = c.size() - 1 - i;
                    },
                false);
    Router r =
        Policies.compile(
            Policies.parse(
                "plugins: [{type: reverse-picker}]\nprofiles: [{name: default, plugins: [reverse-picker]}]",
                "t.yaml",
                registry),
            context());
    Explanation x = r.explain(request("a", null, null), fleet(3), NOW);
    assertEquals(List.of("e2", "e1", "e0"), x.ranking());
    assertEquals(
        "e2 won: reverse-picker: orders by its own rule (it gives no explanation).", x.reason());
    List<String> ids = new ArrayList<>();
    for (Explanation.Row row : x.rows()) ids.add(row.endpoint());
    assertEquals(List.of("e2", "e1", "e0"), ids);
  }
}
