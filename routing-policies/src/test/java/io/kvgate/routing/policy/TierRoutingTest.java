package io.kvgate.routing.policy;

import static io.kvgate.routing.policy.PolicyPluginsTest.*;
import static org.junit.jupiter.api.Assertions.*;

import io.kvgate.routing.Decision;
import io.kvgate.routing.Endpoint;
import io.kvgate.routing.EndpointState;
import io.kvgate.routing.EngineSignals;
import io.kvgate.routing.Role;
import io.kvgate.routing.Router;
import io.kvgate.routing.RoutingRequest;
import io.kvgate.routing.prefix.LruPrefixIndex;
import java.net.URI;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * {@code label-tier-filter} as preference tiers: the chosen tier is the most preferred one with an
 * unsaturated endpoint that passed the earlier filters, the later tiers follow it in the ranking
 * (for retries), each tier ranked by the picker on its own, and every decision starts again from
 * the most preferred tier (fail-back).
 */
class TierRoutingTest {

  /** a0, a1 in cloud aws (tier 1); g0, g1 in gcp (tier 2); x0 unlabelled. */
  static List<EndpointState> fleet() {
    List<EndpointState> out = new ArrayList<>();
    String[][] spec = {{"a0", "aws"}, {"a1", "aws"}, {"g0", "gcp"}, {"g1", "gcp"}, {"x0", null}};
    for (String[] s : spec) {
      Map<String, String> labels = s[1] == null ? Map.of() : Map.of("cloud", s[1]);
      out.add(
          new EndpointState(
              new Endpoint(
                  s[0],
                  URI.create("http://" + s[0] + ":8000"),
                  "m",
                  Role.BOTH,
                  labels,
                  1.0,
                  Set.of()),
              out.size()));
    }
    return out;
  }

  static Router tiers(String params, String picker, RoutingContext ctx) throws Exception {
    return compile(
        "plugins: [{type: healthy-filter}, {type: label-tier-filter, parameters: {label: cloud,"
            + " tiers: [aws, gcp]"
            + params
            + "}}, {type: "
            + picker
            + "}]\nprofiles: [{name: default, plugins: [healthy-filter, label-tier-filter, "
            + picker
            + "]}]",
        ctx);
  }

  static List<String> tierNames(Decision d) {
    return d.ranked().stream().map(Decision.Candidate::tier).toList();
  }

  static EndpointState byId(List<EndpointState> fleet, String id) {
    return fleet.stream().filter(e -> e.id().equals(id)).findFirst().orElseThrow();
  }

  @Test
  void theChosenTierComesFirstAndTheNextTiersFollowForRetries() throws Exception {
    List<EndpointState> fleet = fleet();
    Router r = tiers("", "round-robin-picker", context());
    Decision d = r.route(request("hello", null, null), fleet, NOW);
    assertEquals(List.of("aws", "aws", "gcp", "gcp", "untiered"), tierNames(d));
    assertEquals(Set.of("a0", "a1"), Set.copyOf(ids(d).subList(0, 2)));
    assertEquals(Set.of("g0", "g1"), Set.copyOf(ids(d).subList(2, 4)));
    assertEquals("x0", ids(d).get(4));
    assertEquals(
        List.of(0, 0, 1, 1, 2), d.ranked().stream().map(Decision.Candidate::tierRank).toList());
    assertNull(d.failover(), "the most preferred tier was chosen");
  }

  @Test
  void anUnavailableTierFailsOverAndTheNextDecisionFailsBack() throws Exception {
    List<EndpointState> fleet = fleet();
    Router r = tiers("", "round-robin-picker", context());
    byId(fleet, "a0").setHealthy(false);
    Decision one = r.route(request("hello", null, null), fleet, NOW);
    assertEquals(List.of("a1", "g0", "g1", "x0").size(), one.ranked().size());
    assertEquals("a1", ids(one).get(0), "one healthy endpoint keeps the tier");
    assertFalse(ids(one).contains("a0"), "the unhealthy endpoint is not ranked at all");

    byId(fleet, "a1").setHealthy(false);
    Decision over = r.route(request("hello", null, null), fleet, NOW);
    assertEquals(List.of("gcp", "gcp", "untiered"), tierNames(over));
    assertEquals(Decision.FAILOVER_UNAVAILABLE, over.failover());

    byId(fleet, "g0").setHealthy(false);
    byId(fleet, "g1").setHealthy(false);
    Decision last = r.route(request("hello", null, null), fleet, NOW);
    assertEquals(List.of("x0"), ids(last), "untiered endpoints are the last resort");
    assertEquals(Decision.FAILOVER_UNAVAILABLE, last.failover());

    byId(fleet, "x0").setHealthy(false);
    assertEquals(
        "healthy-filter left no endpoint",
        r.route(request("hello", null, null), fleet, NOW).reason());

    byId(fleet, "a0").setHealthy(true);
    Decision back = r.route(request("hello", null, null), fleet, NOW);
    assertEquals(List.of("a0"), ids(back), "fail-back with the first decision after recovery");
    assertNull(back.failover());
  }

  @Test
  void aSaturatedTierOverflowsToTheNextAndTakesWorkAgainOnceBelowItsBound() throws Exception {
    List<EndpointState> fleet = fleet();
    Router r = tiers(", maxInFlight: 2", "round-robin-picker", context());
    List<EndpointState.Lease> leases = new ArrayList<>();
    for (int i = 0; i < 2; i++) leases.add(byId(fleet, "a0").acquire(100));
    Decision half = r.route(request("hello", null, null), fleet, NOW);
    assertEquals("a1", ids(half).get(0), "the tier's unsaturated endpoint takes it");
    assertEquals(List.of("a1", "g0", "g1", "x0", "a0").size(), half.ranked().size());
    assertEquals("a0", ids(half).get(4), "a saturated endpoint is the last resort");
    assertNull(half.failover());

    for (int i = 0; i < 2; i++) leases.add(byId(fleet, "a1").acquire(100));
    Decision over = r.route(request("hello", null, null), fleet, NOW);
    assertEquals(List.of("gcp", "gcp", "untiered", "aws", "aws"), tierNames(over));
    assertEquals(Decision.FAILOVER_SATURATED, over.failover());

    leases.get(0).release();
    Decision back = r.route(request("hello", null, null), fleet, NOW);
    assertEquals("a0", ids(back).get(0), "one request done: tier 1 has room again");
    assertNull(back.failover());
  }

  @Test
  void whenEveryEndpointIsSaturatedTheMostPreferredTierStillTakesIt() throws Exception {
    List<EndpointState> fleet = fleet();
    Router r = tiers(", maxInFlight: 1", "round-robin-picker", context());
    for (EndpointState e : fleet) e.acquire(10);
    Decision d = r.route(request("hello", null, null), fleet, NOW);
    assertEquals(List.of("aws", "aws", "gcp", "gcp", "untiered"), tierNames(d));
    assertNull(d.failover());
  }

  @Test
  void pendingPrefillAndFreshKvUsageSaturateWeightScalesTheBounds() throws Exception {
    List<EndpointState> fleet = fleet();
    Router r =
        tiers(
            ", maxInFlight: 0, maxPendingPrefillTokens: 1000, maxKvCacheUsage: 0.9, maxSignalAge:"
                + " 5s",
            "round-robin-picker",
            context());
    byId(fleet, "a0").acquire(1000);
    byId(fleet, "a1").setSignals(new EngineSignals(0, 4, 0.95, NOW - 1_000_000_000L));
    Decision over = r.route(request("hello", null, null), fleet, NOW);
    assertEquals("gcp", over.first().tier());
    assertEquals(Decision.FAILOVER_SATURATED, over.failover());

    // A stale scrape says nothing about saturation.
    byId(fleet, "a1").setSignals(new EngineSignals(0, 4, 0.95, NOW - 10_000_000_000L));
    assertEquals("a1", ids(r.route(request("hello", null, null), fleet, NOW)).get(0));

    // Twice the weight, twice the bound: 1000 pending tokens do not saturate a weight-2 endpoint.
    List<EndpointState> weighted = new ArrayList<>();
    for (EndpointState e : fleet) {
      Endpoint p = e.endpoint();
      weighted.add(
          new EndpointState(
              new Endpoint(
                  p.id(),
                  p.url(),
                  p.model(),
                  p.role(),
                  p.labels(),
                  p.id().equals("a0") ? 2.0 : 1.0,
                  p.adapters()),
              e.slot()));
    }
    byId(weighted, "a0").acquire(1000);
    byId(weighted, "a1").acquire(1000);
    assertEquals("a0", ids(r.route(request("hello", null, null), weighted, NOW)).get(0));
    assertTrue(
        r.endpointFieldsRead().contains(io.kvgate.routing.EndpointField.WEIGHT),
        "the filter reads weights, so a configured weight is not refused as ignored");
  }

  /**
   * Every picker, including the ones that rank by themselves, only compares endpoints of one tier:
   * a tier-2 endpoint that holds the whole prompt in its cache (and, for the load pickers, is idle
   * while tier 1 is busy) never goes before a tier-1 endpoint.
   */
  @Test
  void everyPickerRanksWithinTheChosenTierOnly() throws Exception {
    for (PluginType<?, ?> t : PluginRegistry.builtIn().types()) {
      if (t.kind() != PluginType.Kind.PICKER) continue;
      List<EndpointState> fleet = fleet();
      RoutingContext ctx = new RoutingContext("m", new LruPrefixIndex(), new SplittableRandom(3));
      String prompt = "a long shared system prompt that fills blocks ".repeat(40);
      RoutingRequest req = request(prompt, "session-1", null);
      ctx.index().recordRouted(byId(fleet, "g1").slot(), req.chain(), NOW);
      for (int i = 0; i < 3; i++) {
        byId(fleet, "a0").acquire(5_000, 5_000);
        byId(fleet, "a1").acquire(5_000, 5_000);
      }
      Router r = tiers(", maxInFlight: 100", t.name(), ctx);
      Map<String, Integer> firsts = new HashMap<>();
      for (int i = 0; i < 30; i++) {
        Decision d = r.route(req, fleet, NOW);
        assertEquals(
            List.of("aws", "aws", "gcp", "gcp", "untiered"), tierNames(d), t.name() + ": " + d);
        firsts.merge(d.first().endpoint().id(), 1, Integer::sum);
        if (r.writesOnDispatch()) r.onDispatched(req, d.first().endpoint(), NOW);
      }
      assertTrue(
          firsts.keySet().stream().allMatch(id -> id.startsWith("a")), t.name() + " " + firsts);
    }
  }
}
