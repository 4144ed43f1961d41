package io.kvgate.routing.policy;

import static org.junit.jupiter.api.Assertions.*;

import io.kvgate.routing.Decision;
import io.kvgate.routing.Endpoint;
import io.kvgate.routing.EndpointState;
import io.kvgate.routing.EngineSignals;
import io.kvgate.routing.Role;
import io.kvgate.routing.Router;
import io.kvgate.routing.RoutingRequest;
import io.kvgate.routing.prefix.BlockChain;
import io.kvgate.routing.prefix.BlockHasher;
import io.kvgate.routing.prefix.LruPrefixIndex;
import java.net.URI;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** Every plugin and preset over real {@link EndpointState}s, a real index and a seeded random. */
class PolicyPluginsTest {

  static final long NOW = 1_000_000_000_000L;
  static final BlockHasher HASHER = new BlockHasher(64);

  static List<EndpointState> fleet(int n) {
    List<EndpointState> out = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      Map<String, String> labels = Map.of("region", i < n / 2 ? "us-east" : "eu-west");
      Set<String> adapters = i == 1 ? Set.of("sql-lora") : Set.of();
      Role role = i == 0 ? Role.PREFILL : Role.BOTH;
      out.add(
          new EndpointState(
              new Endpoint(
                  "e" + i, URI.create("http://h" + i + ":8000"), "m", role, labels, 1.0, adapters),
              i));
    }
    return out;
  }

  static RoutingRequest request(String prompt, String session, String adapter) {
    BlockChain chain = HASHER.hash(BlockHasher.seed("m", adapter, null), prompt);
    return new RoutingRequest("m", adapter, session, chain, prompt.length() / 4, true);
  }

  static RoutingContext context() {
    return new RoutingContext("m", new LruPrefixIndex(), new SplittableRandom(7));
  }

  static Router compile(String yaml, RoutingContext ctx) throws PolicyException {
    return Policies.compile(Policies.parse(yaml, "test.yaml"), ctx);
  }

  static List<String> ids(Decision d) {
    return d.ranked().stream().map(c -> c.endpoint().id()).toList();
  }

  @Test
  void everyPresetParsesAndRanksEveryHealthyEndpoint() throws Exception {
    List<EndpointState> fleet = fleet(4);
    for (String preset : Policies.presetNames()) {
      Router r = Policies.load(preset, context());
      Decision d = r.route(request("x".repeat(1000), "s", null), fleet, NOW);
      assertEquals(4, d.ranked().size(), preset);
      assertEquals(4, Set.copyOf(ids(d)).size(), preset + " ranks each endpoint once");
    }
  }

  @Test
  void shippedPolicyFilesCompileAndPresetsMatchTheirConfigCopies() throws Exception {
    for (String dir : List.of("../config/policies", "../config/examples")) {
      try (var files = java.nio.file.Files.list(java.nio.file.Path.of(dir))) {
        for (java.nio.file.Path f : files.filter(x -> x.toString().endsWith(".yaml")).toList()) {
          assertFalse(
              Policies.load(f.toString(), context())
                  .route(request("a", null, null), fleet(2), NOW)
                  .isEmpty(),
              f.toString());
        }
      }
    }
    for (String preset : Policies.presetNames()) {
      try (var in =
          Policies.class.getClassLoader().getResourceAsStream("policies/" + preset + ".yaml")) {
        assertEquals(
            java.nio.file.Files.readString(
                java.nio.file.Path.of("../config/policies/" + preset + ".yaml")),
            new String(in.readAllBytes(), java.nio.charset.StandardCharsets.UTF_8),
            preset + ": config/policies copy differs");
      }
    }
  }

  @Test
  void validationReportsEveryProblemWithItsPath() {
    String yaml =
        """
        name: broken
        colour: blue
        plugins:
          - {type: healthy-filter}
          - {type: no-such-thing}
          - {type: softmax-picker, parameters: {temperature: -1, extra: 1}}
          - {name: p2, type: max-score-picker}
        profiles:
          - name: default
            plugins: [{ref: healthy-filter}, {ref: missing}, {ref: softmax-picker, weight: 0}, {ref: p2}]
        """;
    PolicyException e =
        assertThrows(PolicyException.class, () -> Policies.parse(yaml, "broken.yaml"));
    List<String> p = e.problems().stream().map(Object::toString).toList();
    assertTrue(p.stream().anyMatch(s -> s.startsWith("colour: unknown key")), p.toString());
    assertTrue(
        p.stream().anyMatch(s -> s.startsWith("plugins[1].type: unknown type 'no-such-thing'")),
        p.toString());
    assertTrue(
        p.stream()
            .anyMatch(s -> s.startsWith("plugins[2].parameters.temperature: must be between")),
        p.toString());
    assertTrue(
        p.stream()
            .anyMatch(
                s ->
                    s.startsWith(
                        "plugins[2].parameters.extra: unknown key (allowed: temperature)")),
        p.toString());
    assertTrue(
        p.stream()
            .anyMatch(s -> s.startsWith("profiles[0].plugins[1].ref: no plugin named 'missing'")),
        p.toString());
    assertTrue(
        p.stream()
            .anyMatch(
                s -> s.startsWith("profiles[0].plugins[2].weight: only scorers take a weight")),
        p.toString());
    assertTrue(
        p.stream()
            .anyMatch(
                s ->
                    s.startsWith(
                        "profiles[0].plugins: must reference exactly one picker (found 2)")),
        p.toString());
  }

  @Test
  void onlyPoliciesThatConsultTheIndexPredictCachedPrefixes() throws Exception {
    java.util.Set<String> predicting = new java.util.TreeSet<>();
    for (String preset : Policies.presetNames()) {
      if (Policies.load(preset, context()).predictsCachedPrefix()) predicting.add(preset);
    }
    // sglang-cache-aware keeps its own per-worker trees, as SGLang does: no kvgate index
    // prediction.
    assertEquals(java.util.Set.of("cache-aware", "dynamo-kv"), predicting);
    java.util.Set<String> writing = new java.util.TreeSet<>();
    for (String preset : Policies.presetNames()) {
      if (Policies.load(preset, context()).writesOnDispatch()) writing.add(preset);
    }
    // ... but it does learn from dispatches, into those trees.
    assertEquals(java.util.Set.of("cache-aware", "dynamo-kv", "sglang-cache-aware"), writing);
  }

  @Test
  void unknownPresetOrFileIsAClearError() {
    PolicyException e = assertThrows(PolicyException.class, () -> Policies.load("nope", context()));
    assertTrue(e.getMessage().contains("no preset of that name"), e.getMessage());
  }

  @Test
  void filters() throws Exception {
    List<EndpointState> fleet = fleet(4);
    fleet.get(2).setHealthy(false);
    fleet.get(3).setHealthy(false);
    Router healthy =
        compile(
            "plugins: [{type: healthy-filter}, {type: round-robin-picker}]\nprofiles: [{name: default, plugins: [healthy-filter, round-robin-picker]}]",
            context());
    assertEquals(
        Set.of("e0", "e1"), Set.copyOf(ids(healthy.route(request("a", null, null), fleet, NOW))));
    assertEquals(
        "healthy-filter left no endpoint",
        healthy.route(request("a", null, null), fleet.subList(2, 4), NOW).reason());

    List<EndpointState> all = fleet(4);
    Router lora =
        compile(
            "plugins: [{type: lora-filter}, {type: round-robin-picker}]\nprofiles: [{name: default, plugins: [lora-filter, round-robin-picker]}]",
            context());
    assertEquals(List.of("e1"), ids(lora.route(request("a", null, "sql-lora"), all, NOW)));
    assertEquals(
        4,
        lora.route(request("a", null, "unknown-lora"), all, NOW).ranked().size(),
        "nobody has it: all stay");

    Router tier =
        compile(
            "plugins: [{type: healthy-filter}, {type: label-tier-filter, parameters: {label: region, tiers: [eu-west, us-east]}}, {type: round-robin-picker}]\n"
                + "profiles: [{name: default, plugins: [healthy-filter, label-tier-filter, round-robin-picker]}]",
            context());
    List<String> ranked = ids(tier.route(request("a", null, null), all, NOW));
    assertEquals(Set.of("e2", "e3"), Set.copyOf(ranked.subList(0, 2)), "the first tier first");
    assertEquals(Set.of("e0", "e1"), Set.copyOf(ranked.subList(2, 4)), "the next tier after it");
    all.get(2).setHealthy(false);
    all.get(3).setHealthy(false);
    assertEquals(
        Set.of("e0", "e1"),
        Set.copyOf(ids(tier.route(request("a", null, null), all, NOW))),
        "fails over to the next tier");
  }

  @Test
  void loadScorersPreferTheIdleEndpoint() throws Exception {
    for (String scorer :
        List.of("in-flight-scorer", "pending-prefill-scorer", "queue-scorer", "kv-cache-scorer")) {
      List<EndpointState> fleet = fleet(3);
      for (int i = 0; i < 3; i++) {
        if (i != 1) {
          fleet.get(i).acquire(10_000, 10_000);
          fleet.get(i).setSignals(new EngineSignals(5, 5, 0.9, NOW));
        } else {
          fleet.get(i).setSignals(new EngineSignals(0, 0, 0.1, NOW));
        }
      }
      Router r =
          compile(
              "plugins: [{type: "
                  + scorer
                  + "}, {type: max-score-picker}]\nprofiles: [{name: default, plugins: ["
                  + scorer
                  + ", max-score-picker]}]",
              context());
      assertEquals(
          "e1", r.route(request("a", null, null), fleet, NOW).first().endpoint().id(), scorer);
    }
  }

  @Test
  void staleSignalsFallBackToOwnCounts() throws Exception {
    List<EndpointState> fleet = fleet(2);
    fleet.get(0).setSignals(new EngineSignals(0, 0, 0, NOW - 60_000_000_000L));
    fleet.get(1).setSignals(new EngineSignals(50, 0, 0, NOW - 60_000_000_000L));
    fleet.get(0).acquire(1, 1);
    Router r =
        compile(
            "plugins: [{type: queue-scorer, parameters: {maxSignalAge: 5s}}, {type: max-score-picker}]\nprofiles: [{name: default, plugins: [queue-scorer, max-score-picker]}]",
            context());
    assertEquals("e1", r.route(request("a", null, null), fleet, NOW).first().endpoint().id());
  }

  @Test
  void sessionAffinityIsStableAndBoundedInLoad() throws Exception {
    List<EndpointState> fleet = fleet(4);
    Router r = Policies.load("session-affinity", context());
    Map<String, String> first = new HashMap<>();
    for (int s = 0; s < 40; s++)
      first.put("s" + s, r.route(request("a", "s" + s, null), fleet, NOW).first().endpoint().id());
    for (int s = 0; s < 40; s++)
      assertEquals(
          first.get("s" + s),
          r.route(request("b", "s" + s, null), fleet, NOW).first().endpoint().id());
    assertTrue(Set.copyOf(first.values()).size() >= 3, "sessions spread: " + first.values());
    String hot = first.get("s0");
    EndpointState hotState =
        fleet.stream().filter(e -> e.id().equals(hot)).findFirst().orElseThrow();
    for (int i = 0; i < 20; i++) hotState.acquire(1, 1);
    assertNotEquals(
        hot,
        r.route(request("a", "s0", null), fleet, NOW).first().endpoint().id(),
        "bounded load spills a hot session");
  }

  @Test
  void roundRobinAndRandomVisitEveryone() throws Exception {
    List<EndpointState> fleet = fleet(4);
    Router rr = Policies.load("round-robin", context());
    List<String> firsts = new ArrayList<>();
    for (int i = 0; i < 4; i++)
      firsts.add(rr.route(request("a", null, null), fleet, NOW).first().endpoint().id());
    assertEquals(Set.of("e0", "e1", "e2", "e3"), Set.copyOf(firsts));
    Router random = Policies.load("random", context());
    Set<String> seen = new java.util.HashSet<>();
    for (int i = 0; i < 64; i++)
      seen.add(random.route(request("a", null, null), fleet, NOW).first().endpoint().id());
    assertEquals(4, seen.size());
  }

  /**
   * The gateway-level property, at the policy level: a shared prefix sticks unless its
   * holder is overloaded.
   */
  @Test
  void cacheAwareKeepsSharedPrefixesTogetherAndAvoidsOverload() throws Exception {
    for (String preset : List.of("cache-aware", "dynamo-kv")) {
      List<EndpointState> fleet = fleet(4);
      RoutingContext ctx = context();
      Router r = Policies.load(preset, ctx);
      String system = "Shared system prompt of tenant A. ".repeat(400);
      RoutingRequest a = request(system + "question one", null, null);
      Decision d1 = r.route(a, fleet, NOW);
      EndpointState holder = d1.first().endpoint();
      r.onDispatched(a, holder, NOW);
      Decision d2 = r.route(request(system + "question two", null, null), fleet, NOW);
      assertEquals(holder, d2.first().endpoint(), preset);
      assertTrue(d2.first().matchedBlocks() > 100, preset + " predicts the shared prefix cached");
      EndpointState.Lease burden = holder.acquire(2_000_000, 2_000_000);
      assertNotEquals(
          holder,
          r.route(request(system + "question three", null, null), fleet, NOW).first().endpoint(),
          preset);
      burden.release();
    }
  }

  @Test
  void cacheAwareSendsMissesWhereCachesChurnLeast() throws Exception {
    List<EndpointState> fleet = fleet(2);
    RoutingContext ctx = context();
    Router r = Policies.load("cache-aware", ctx);
    // e0 just took a lot of new blocks; a miss should go to e1.
    for (int i = 0; i < 20; i++)
      ctx.index().recordRouted(0, request("doc " + i + " ".repeat(4000), null, null).chain(), NOW);
    assertEquals(
        "e1",
        r.route(request("brand new prompt ".repeat(100), null, null), fleet, NOW)
            .first()
            .endpoint()
            .id());
  }

  /**
   * A hit spills off its busy holder onto a replica with room (copying the prefix there evicts
   * nothing), but not onto a full one, where the copy would evict as many blocks as it inserts: the
   * {@code insertionWeight · fill} term. With {@code insertionWeight: 0} it spills either way.
   */
  @Test
  void cacheAwareSpillsAHitOntoFreeCacheButNotOntoAFullOne() throws Exception {
    String system = "Tenant handbook, section by section. ".repeat(80); // ~46 blocks, ~750 tokens
    for (boolean fullTarget : new boolean[] {false, true}) {
      for (double insertionWeight : new double[] {4, 0}) {
        List<EndpointState> fleet = fleet(2);
        RoutingContext ctx = context();
        ctx.index().setCapacityBlocks(0, 200);
        ctx.index().setCapacityBlocks(1, 200);
        // Both replicas took the same number of new blocks (equal churn); e1 only when full.
        for (int i = 0; i < 150; i++)
          ctx.index().recordRouted(0, request("a" + i + " ".repeat(63), null, null).chain(), NOW);
        if (fullTarget) {
          for (int i = 0; i < 196; i++)
            ctx.index().recordRouted(1, request("b" + i + " ".repeat(63), null, null).chain(), NOW);
        }
        ctx.index().recordRouted(0, request(system, null, null).chain(), NOW);
        fleet.get(0).acquire(2_000, 2_000); // the holder has 2,000 tokens of prefill queued
        Router r =
            compile(
                "plugins: [{type: cache-aware-picker, parameters: {insertionWeight: "
                    + insertionWeight
                    + "}}]\n"
                    + "profiles: [{name: default, plugins: [cache-aware-picker]}]",
                ctx);
        String first =
            r.route(request(system + "next question", null, null), fleet, NOW)
                .first()
                .endpoint()
                .id();
        boolean stays = fullTarget && insertionWeight > 0;
        assertEquals(
            stays ? "e0" : "e1",
            first,
            "full target " + fullTarget + ", insertionWeight " + insertionWeight);
      }
    }
  }

  /**
   * Work share: a replica that prefilled far more than its share of the fleet's recent work carries
   * the excess as if it were still queued, so a hit whose prefix a second replica would have to
   * copy leaves it. The hit stays when the holder is within the bound: with no excess, with a slack
   * or a floor that covers the excess, or with {@code balanceWeight: 0} (the bound off).
   */
  @Test
  void cacheAwareBoundsAHolderThatDidMoreThanItsShareOfRecentWork() throws Exception {
    String system = "Hot tenant's system prompt, long and shared. ".repeat(60); // ~42 blocks
    long past =
        NOW - 300_000_000_000L; // 5 minutes ago: within the 10-minute TTL, decayed 2^-10 by the 30
    // s half-life
    record Case(int excessDocs, String parameters, boolean leaves) {}
    List<Case> cases =
        List.of(
            new Case(200, "{}", true), // defaults: slack 0.2, floor 0.25
            new Case(0, "{}", false), // no excess
            new Case(200, "{balanceWeight: 0}", false), // the bound off
            new Case(200, "{balanceSlack: 10}", false), // the slack covers the excess
            new Case(200, "{balanceFloor: 10}", false), // the floor covers it (10 x 400 blocks)
            new Case(200, "{balanceSlack: 0, balanceFloor: 0}", true));
    for (Case k : cases) {
      List<EndpointState> fleet = fleet(2);
      RoutingContext ctx = context();
      // Both caches are full of older blocks (a copy evicts on either), both did the same recent
      // work, and e0 also holds the hot prompt and, in some cases, did 200 more documents' worth.
      fillWithOldBlocks(ctx, 2, past);
      for (int slot = 0; slot < 2; slot++) {
        for (int i = 0; i < 20; i++)
          ctx.index()
              .recordRouted(
                  slot,
                  request("recent " + slot + "/" + i + " ".repeat(1_000), null, null).chain(),
                  NOW);
      }
      for (int i = 0; i < k.excessDocs(); i++) {
        ctx.index()
            .recordRouted(0, request("extra " + i + " ".repeat(1_000), null, null).chain(), NOW);
      }
      ctx.index().recordRouted(0, request(system, null, null).chain(), NOW);
      assertEquals(400, ctx.index().heldBlocks(1), "the other replica's cache is full");
      Router r =
          compile(
              "plugins: [{type: cache-aware-picker, parameters: "
                  + k.parameters()
                  + "}]\n"
                  + "profiles: [{name: default, plugins: [cache-aware-picker]}]",
              ctx);
      Decision d = r.route(request(system + "next question", null, null), fleet, NOW);
      assertEquals(k.leaves() ? "e1" : "e0", d.first().endpoint().id(), k.toString());
    }
  }

  /**
   * Fills each endpoint's 400-block cache with 40 old documents, so a copy evicts on any of them.
   */
  private static void fillWithOldBlocks(RoutingContext ctx, int endpoints, long at) {
    fillWithOldBlocks(ctx, endpoints, 400, at);
  }

  /** Fills each endpoint's cache of {@code capacity} blocks with old 10-block documents. */
  private static void fillWithOldBlocks(RoutingContext ctx, int endpoints, int capacity, long at) {
    for (int slot = 0; slot < endpoints; slot++) {
      ctx.index().setCapacityBlocks(slot, capacity);
      for (int i = 0; i < capacity / 10; i++)
        ctx.index()
            .recordRouted(
                slot, request("old " + slot + "/" + i + " ".repeat(640), null, null).chain(), at);
    }
  }

  /**
   * {@code waitSlackTokens} bounds what the externalities may cost the request itself: a hit whose
   * holder has a queue stays there while the bound is off or the queue is within the slack (a copy
   * into the other full cache is priced at eight times its size), and leaves once that queue
   * exceeds its fastest time to first token elsewhere, times {@code 1 + waitSlackRatio}, by more
   * than the slack.
   */
  @Test
  void cacheAwareWaitSlackBoundsHowLongAHitWaitsOnItsHolder() throws Exception {
    String doc = "A shared contract, clause after clause. ".repeat(80);
    long prompt = request(doc + "next question", null, null).promptTokens();
    record Case(String parameters, boolean leaves) {}
    List<Case> cases =
        List.of(
            new Case("{}", false), // within the default bound
            new Case("{waitSlackTokens: 0}", false), // the bound off: the hit stays
            new Case(
                "{waitSlackTokens: " + prompt + ", waitSlackRatio: 0}",
                true), // 3 x prompt queued > prompt + slack
            new Case(
                "{waitSlackTokens: " + prompt + ", waitSlackRatio: 0, temperature: 10}",
                true), // never sampled first
            new Case(
                "{waitSlackTokens: " + 4 * prompt + ", waitSlackRatio: 0}",
                false), // within the slack
            new Case(
                "{waitSlackTokens: 1, waitSlackRatio: 1}",
                true), // 3 x prompt queued > 2 x prompt + 1
            new Case("{waitSlackTokens: 1, waitSlackRatio: 3}", false)); // within 4 x prompt + 1
    for (Case k : cases) {
      Decision d = routeBehindQueue(doc, 400, 3 * prompt, k.parameters());
      assertEquals(k.leaves() ? "e1" : "e0", d.first().endpoint().id(), k.toString());
      assertEquals(2, d.ranked().size(), "a bounded-out endpoint stays ranked, for retries");
    }
  }

  /**
   * The default bound is relative: a 12k-token hit stays on its holder behind a queue that the
   * additive bound (fastest + 32,768) would have moved it away from, and leaves only beyond four
   * times its fastest option plus 32,768, where the eviction price alone would still keep it.
   */
  @Test
  void cacheAwareDefaultWaitBoundGrowsWithTheRequest() throws Exception {
    String doc = "A shared contract, clause after clause. ".repeat(1200);
    long prompt = request(doc + "next question", null, null).promptTokens();
    record Case(long queued, boolean leaves) {}
    List<Case> cases =
        List.of(
            new Case(
                2 * prompt + 32_768,
                false), // beyond the additive bound, within 4 x prompt + 32,768
            new Case(
                4 * prompt + 40_000,
                true)); // beyond it, though still cheaper than a copy (8 x prompt)
    for (Case k : cases) {
      assertEquals(
          k.leaves() ? "e1" : "e0",
          routeBehindQueue(doc, 1000, k.queued(), null).first().endpoint().id(),
          k.toString());
    }
  }

  /**
   * Routes {@code doc + "next question"} over two endpoints with full caches of {@code capacity}
   * blocks, e0 holding the document behind {@code queued} tokens of pending prefill, e1 idle: with
   * the cache-aware picker's {@code parameters}, or the {@code cache-aware} preset if null.
   */
  private static Decision routeBehindQueue(String doc, int capacity, long queued, String parameters)
      throws Exception {
    long past = NOW - 300_000_000_000L;
    List<EndpointState> fleet = fleet(2);
    RoutingContext ctx = context();
    fillWithOldBlocks(ctx, 2, capacity, past);
    ctx.index().recordRouted(0, request(doc, null, null).chain(), past);
    EndpointState.Lease lease = fleet.get(0).acquire(queued, queued);
    Router r =
        parameters == null
            ? Policies.load("cache-aware", ctx)
            : compile(
                "plugins: [{type: cache-aware-picker, parameters: "
                    + parameters
                    + "}]\n"
                    + "profiles: [{name: default, plugins: [cache-aware-picker]}]",
                ctx);
    try {
      return r.route(request(doc + "next question", null, null), fleet, NOW);
    } finally {
      lease.release();
    }
  }

  @Test
  void sglangFollowsItsThreeRules() throws Exception {
    List<EndpointState> fleet = fleet(3);
    Router r = Policies.load("sglang-cache-aware", context());
    String doc = "A long shared document. ".repeat(300);
    RoutingRequest first = request(doc + "q1", null, null);
    EndpointState smallest = r.route(first, fleet, NOW).first().endpoint();
    r.onDispatched(first, smallest, NOW);
    // Rule 2: a match above cache_threshold goes to its holder.
    assertEquals(smallest, r.route(request(doc + "q2", null, null), fleet, NOW).first().endpoint());
    // Rule 3: a miss goes to the worker with the smallest tree (not the one holding the document).
    assertNotEquals(
        smallest,
        r.route(request("unrelated ".repeat(300), null, null), fleet, NOW).first().endpoint());
    // Rule 1: imbalance (max - min > 32 and max > 1.0001 min) overrides the cache.
    for (int i = 0; i < 40; i++) smallest.acquire(1, 1);
    assertNotEquals(
        smallest, r.route(request(doc + "q3", null, null), fleet, NOW).first().endpoint());
  }

  @Test
  void softmaxPickerSamplesButKeepsEveryone() throws Exception {
    List<EndpointState> fleet = fleet(3);
    fleet.get(0).acquire(100, 100);
    Router r =
        compile(
            "plugins: [{type: in-flight-scorer}, {type: softmax-picker, parameters: {temperature: 10}}]\n"
                + "profiles: [{name: default, plugins: [in-flight-scorer, softmax-picker]}]",
            context());
    Set<String> firsts = new java.util.HashSet<>();
    for (int i = 0; i < 200; i++) {
      Decision d = r.route(request("a", null, null), fleet, NOW);
      assertEquals(3, d.ranked().size());
      firsts.add(d.first().endpoint().id());
    }
    assertTrue(firsts.size() >= 2, "a high temperature samples more than the best: " + firsts);
  }
}
