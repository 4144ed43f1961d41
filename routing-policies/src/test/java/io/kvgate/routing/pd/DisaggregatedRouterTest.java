package io.kvgate.routing.pd;

import static org.junit.jupiter.api.Assertions.*;

import io.kvgate.routing.Decision;
import io.kvgate.routing.Endpoint;
import io.kvgate.routing.EndpointState;
import io.kvgate.routing.Role;
import io.kvgate.routing.Router;
import io.kvgate.routing.RoutingRequest;
import io.kvgate.routing.policy.Policies;
import io.kvgate.routing.policy.PolicyException;
import io.kvgate.routing.policy.PolicySpec;
import io.kvgate.routing.policy.RoutingContext;
import io.kvgate.routing.prefix.BlockChain;
import io.kvgate.routing.prefix.BlockHasher;
import io.kvgate.routing.prefix.LruPrefixIndex;
import java.net.URI;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * Each side by its own criteria: the decode side by decode load and never by prefix, the prefill
 * pool by the model's cache-aware policy whatever the decode side's load, and a request whose
 * uncached part on its decode endpoint is short served whole there.
 */
class DisaggregatedRouterTest {

  static final long NOW = 1_000_000_000_000L;
  static final BlockHasher HASHER = new BlockHasher(64);

  final List<EndpointState> fleet = new ArrayList<>();
  final RoutingContext context =
      new RoutingContext("m", new LruPrefixIndex(), new SplittableRandom(3));

  /** p0, p1 (prefill), d0, d1 (decode), b0 (both). */
  DisaggregatedRouterTest() {
    String[][] spec = {
      {"p0", "prefill"}, {"p1", "prefill"}, {"d0", "decode"}, {"d1", "decode"}, {"b0", "both"}
    };
    for (String[] s : spec) {
      fleet.add(
          new EndpointState(
              new Endpoint(
                  s[0],
                  URI.create("http://" + s[0] + ":8000"),
                  "m",
                  Role.parse(s[1]),
                  Map.of(),
                  1.0,
                  Set.of()),
              fleet.size()));
    }
  }

  EndpointState ep(String id) {
    return fleet.stream().filter(e -> e.id().equals(id)).findFirst().orElseThrow();
  }

  static RoutingRequest request(String prompt, long maxTokens) {
    BlockChain chain = HASHER.hash(BlockHasher.seed("m", null, null), prompt);
    return new RoutingRequest("m", null, null, chain, prompt.length() / 4, true, maxTokens);
  }

  DisaggregatedRouter router(long minUncached) throws PolicyException {
    return router(minUncached, "cache-aware");
  }

  DisaggregatedRouter router(long minUncached, String prefillPreset) throws PolicyException {
    Router prefill = Policies.load(prefillPreset, context);
    Router decode = Policies.load(Policies.DECODE_PRESET, context);
    return new DisaggregatedRouter(prefill, decode, context.index(), minUncached);
  }

  @Test
  void eachSideRanksItsOwnPool() throws Exception {
    DisaggregatedRouter.PdDecision d = router(0).route(request("x".repeat(8000), 100), fleet, NOW);
    assertEquals(DisaggregatedRouter.Mode.DISAGGREGATED, d.mode());
    assertEquals(Set.of("p0", "p1"), ids(d.prefill()));
    assertEquals(Set.of("d0", "d1", "b0"), ids(d.decode()));
  }

  @Test
  void theDecodeSideFollowsDecodeLoadNotThePrefix() throws Exception {
    DisaggregatedRouter r = router(0);
    RoutingRequest req = request("shared document ".repeat(500), 200);
    // d0 holds the whole prompt, but it is busy generating: d1 gets the decode leg.
    r.onDispatched(DisaggregatedRouter.Leg.DECODE, req, ep("d0"), NOW);
    ep("d0").acquire(0, 8000, 4000);
    ep("d0").acquire(0, 8000, 4000);
    ep("b0").acquire(0, 100, 100);
    DisaggregatedRouter.PdDecision d = r.route(req, fleet, NOW);
    assertEquals("d1", d.decode().first().endpoint().id());
  }

  @Test
  void aBusyDecodeSideDoesNotTurnOffPrefixAffinityOnThePrefillSide() throws Exception {
    DisaggregatedRouter r = router(0);
    RoutingRequest first = request("tenant system prompt ".repeat(400) + " question one", 50);
    DisaggregatedRouter.PdDecision d1 = r.route(first, fleet, NOW);
    EndpointState holder = d1.prefill().first().endpoint();
    r.onDispatched(DisaggregatedRouter.Leg.PREFILL, first, holder, NOW);
    // Every decode endpoint is now heavily loaded: the next turn still prefills on the holder.
    for (String id : List.of("d0", "d1", "b0")) ep(id).acquire(0, 100_000, 50_000);
    RoutingRequest next = request("tenant system prompt ".repeat(400) + " question two", 50);
    DisaggregatedRouter.PdDecision d2 = r.route(next, fleet, NOW);
    assertEquals(DisaggregatedRouter.Mode.DISAGGREGATED, d2.mode());
    assertEquals(holder.id(), d2.prefill().first().endpoint().id());
    assertTrue(d2.prefill().first().matchedBlocks() > 0);
  }

  @Test
  void aShortUncachedPartIsServedWholeOnItsDecodeEndpoint() throws Exception {
    DisaggregatedRouter r = router(256);
    // A short prompt: whole, whatever the cache.
    DisaggregatedRouter.PdDecision shortOne = r.route(request("y".repeat(400), 10), fleet, NOW);
    assertEquals(DisaggregatedRouter.Mode.WHOLE, shortOne.mode());
    assertEquals(DisaggregatedRouter.Reason.SHORT_UNCACHED, shortOne.reason());
    assertTrue(shortOne.prefill().isEmpty());
    // A long prompt cached on every decode-side endpoint but for its last turn: whole too.
    String history = "earlier turns of the conversation ".repeat(300);
    RoutingRequest turn1 = request(history, 10);
    for (String id : List.of("d0", "d1", "b0"))
      r.onDispatched(DisaggregatedRouter.Leg.DECODE, turn1, ep(id), NOW);
    DisaggregatedRouter.PdDecision turn2 =
        r.route(request(history + "a short new question", 10), fleet, NOW);
    assertEquals(
        DisaggregatedRouter.Mode.WHOLE, turn2.mode(), "uncached " + turn2.uncachedTokens());
    assertTrue(turn2.uncachedTokens() < 256);
    // The same length, never seen: disaggregated.
    DisaggregatedRouter.PdDecision cold =
        r.route(request("z".repeat(history.length() + 80), 10), fleet, NOW);
    assertEquals(DisaggregatedRouter.Mode.DISAGGREGATED, cold.mode());
  }

  @Test
  void noPrefillEndpointAndOtherApisAreServedWhole() throws Exception {
    DisaggregatedRouter r = router(0);
    ep("p0").setHealthy(false);
    ep("p1").setHealthy(false);
    DisaggregatedRouter.PdDecision d = r.route(request("w".repeat(4000), 10), fleet, NOW);
    assertEquals(DisaggregatedRouter.Reason.NO_PREFILL_ENDPOINT, d.reason());
    assertFalse(d.decode().isEmpty());
    DisaggregatedRouter.PdDecision other =
        r.route(request("w".repeat(4000), 10), false, fleet, NOW);
    assertEquals(DisaggregatedRouter.Reason.OTHER_API, other.reason());
    DisaggregatedRouter.PdDecision unkeyed = r.route(RoutingRequest.unkeyed("m"), fleet, NOW);
    assertEquals(DisaggregatedRouter.Reason.NOT_KEYED, unkeyed.reason());
  }

  @Test
  void aPolicyFileCarriesADecodeProfile() throws Exception {
    PolicySpec spec =
        Policies.parse(
            """
            name: mine
            plugins:
              - {type: healthy-filter}
              - {type: cache-aware-picker}
              - {type: in-flight-scorer}
              - {type: max-score-picker}
            profiles:
              - name: default
                plugins: [{ref: healthy-filter}, {ref: cache-aware-picker}]
              - name: decode
                plugins: [{ref: healthy-filter}, {ref: in-flight-scorer}, {ref: max-score-picker}]
            """,
            "mine.yaml");
    Router decode = Policies.compileDecode(spec, context);
    assertEquals("mine/decode", decode.name());
    assertNull(
        Policies.compileDecode(
            Policies.parse(Policies.read("cache-aware"), "cache-aware"), context));
    PolicyException e =
        assertThrows(
            PolicyException.class,
            () ->
                Policies.parse(
                    """
                    plugins: [{type: round-robin-picker}]
                    profiles:
                      - {name: default, plugins: [{ref: round-robin-picker}]}
                      - {name: prefill, plugins: [{ref: round-robin-picker}]}
                    """,
                    "bad.yaml"));
    assertTrue(
        e.getMessage().contains("profiles[1].name: unknown profile 'prefill'"), e.getMessage());
  }

  static Set<String> ids(Decision d) {
    Set<String> s = new java.util.HashSet<>();
    d.ranked().forEach(c -> s.add(c.endpoint().id()));
    return s;
  }
}
