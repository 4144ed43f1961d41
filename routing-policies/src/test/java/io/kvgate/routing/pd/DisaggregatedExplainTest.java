package io.kvgate.routing.pd;

import static org.junit.jupiter.api.Assertions.*;

import io.kvgate.routing.Decision;
import io.kvgate.routing.EndpointState;
import io.kvgate.routing.Explanation;
import io.kvgate.routing.RoutingRequest;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * {@link DisaggregatedRouter#explain}: both sides' rows, the mode and why, the prefill winner, by
 * the procedure {@code route} follows, and nothing learned or charged.
 */
class DisaggregatedExplainTest {

  final DisaggregatedRouterTest fixture = new DisaggregatedRouterTest();
  final List<EndpointState> fleet = fixture.fleet;

  static List<String> ids(Decision d) {
    return d.ranked().stream().map(c -> c.endpoint().id()).toList();
  }

  /** Distinct decode loads, so that the decode side's order has no random tie-break. */
  void loadDecodeSide() {
    fixture.ep("d0").acquire(0, 100, 300);
    fixture.ep("d1").acquire(0, 100, 100);
    fixture.ep("b0").acquire(0, 100, 100);
    fixture.ep("b0").acquire(0, 100, 100);
    fixture.ep("p1").acquire(500, 500);
  }

  @Test
  void aSplitRequestShowsBothSidesAndThePrefillWinner() throws Exception {
    DisaggregatedRouter r = fixture.router(256);
    loadDecodeSide();
    RoutingRequest q = DisaggregatedRouterTest.request("x".repeat(8000), 100);
    DisaggregatedRouter.PdExplanation px = r.explain(q, fleet, DisaggregatedRouterTest.NOW);
    Explanation x = px.explanation();
    DisaggregatedRouter.PdDecision d = r.route(q, fleet, DisaggregatedRouterTest.NOW);
    assertEquals(DisaggregatedRouter.Mode.DISAGGREGATED, px.decision().mode());
    assertEquals(DisaggregatedRouter.Reason.NONE, px.decision().reason());
    assertEquals("disaggregated", px.wireMode());
    assertEquals(ids(d.decode()), x.ranking(Explanation.Side.DECODE));
    assertEquals(ids(d.prefill()), x.ranking(Explanation.Side.PREFILL));
    assertEquals(List.of("d1", "d0", "b0"), x.ranking(Explanation.Side.DECODE));
    assertEquals("d1", x.winner());
    assertEquals("p0", px.prefillWinner(), "p1 has prefill queued");
    assertEquals(ids(d.prefill()), ids(px.decision().prefill()));
    assertEquals(d.uncachedTokens(), px.decision().uncachedTokens());
    assertEquals(256, px.minUncachedTokens());
    assertEquals("cache-aware", x.policy());
    assertEquals("decode-load", px.decodePolicy());
    assertEquals(
        List.of("d1", "d0", "b0", "p0", "p1"),
        x.rows().stream().map(Explanation.Row::endpoint).toList());
    assertEquals(Explanation.Side.DECODE, x.row("d0").side());
    assertEquals(Explanation.Side.PREFILL, x.row("p1").side());
    assertEquals(2, x.row("p1").rank(), "ranks count per side");
    assertEquals(3, x.row("d1").scorers().size(), "decode-load's scorers");
    assertTrue(x.row("p0").term("price") < x.row("p1").term("price"));
    assertTrue(
        x.reason().startsWith("Disaggregated: prefill on p0, decode on d1; 2000 prompt tokens"),
        x.reason());
    assertTrue(x.reason().contains("Decode side (decode-load): d1 won: max-score-picker"));
    assertTrue(x.reason().contains("Prefill side (cache-aware): p0 won: cache-aware-picker"));
  }

  @Test
  void aShortUncachedPartIsExplainedAsServedWholeWithoutRankingThePrefillPool() throws Exception {
    DisaggregatedRouter r = fixture.router(256);
    loadDecodeSide();
    String history = "earlier turns of the conversation ".repeat(300);
    RoutingRequest turn1 = DisaggregatedRouterTest.request(history, 10);
    for (String id : List.of("d0", "d1", "b0"))
      r.onDispatched(
          DisaggregatedRouter.Leg.DECODE, turn1, fixture.ep(id), DisaggregatedRouterTest.NOW);
    r.onDispatched(
        DisaggregatedRouter.Leg.PREFILL, turn1, fixture.ep("p1"), DisaggregatedRouterTest.NOW);
    long entries = fixture.context.index().size();
    RoutingRequest turn2 = DisaggregatedRouterTest.request(history + "a short new question", 10);
    DisaggregatedRouter.PdExplanation px = r.explain(turn2, fleet, DisaggregatedRouterTest.NOW);
    Explanation x = px.explanation();
    assertEquals(entries, fixture.context.index().size(), "explain teaches the index nothing");
    assertEquals(DisaggregatedRouter.Mode.WHOLE, px.decision().mode());
    assertEquals("whole:short_uncached", px.wireMode());
    assertNull(px.prefillWinner());
    assertTrue(px.decision().prefill().isEmpty());
    assertEquals("d1", x.winner());
    assertEquals(List.of(), x.ranking(Explanation.Side.PREFILL));
    Explanation.Row p1 = x.row("p1");
    assertEquals(0, p1.rank());
    assertNull(p1.filteredBy(), "not filtered: the pool is not ranked for a whole request");
    assertEquals(turn1.chain().length(), p1.matchedBlocks(), "the index's view of the pool");
    assertTrue(x.reason().startsWith("Served whole on d1 (short_uncached): "), x.reason());
    assertTrue(x.reason().contains("fewer than minUncachedTokens 256"), x.reason());
    DisaggregatedRouter.PdDecision d = r.route(turn2, fleet, DisaggregatedRouterTest.NOW);
    assertEquals(d.uncachedTokens(), px.decision().uncachedTokens());
  }

  @Test
  void theOtherWholeReasonsAndNoWinner() throws Exception {
    DisaggregatedRouter r = fixture.router(0);
    RoutingRequest q = DisaggregatedRouterTest.request("w".repeat(4000), 10);
    assertTrue(
        r.explain(q, false, fleet, DisaggregatedRouterTest.NOW)
            .explanation()
            .reason()
            .contains("(other_api): only chat and text completions are disaggregated"));
    DisaggregatedRouter.PdExplanation unkeyed =
        r.explain(RoutingRequest.unkeyed("m"), fleet, DisaggregatedRouterTest.NOW);
    assertEquals("whole:not_keyed", unkeyed.wireMode());
    assertEquals(-1, unkeyed.decision().uncachedTokens());

    fixture.ep("p0").setHealthy(false);
    fixture.ep("p1").setHealthy(false);
    DisaggregatedRouter.PdExplanation noPrefill = r.explain(q, fleet, DisaggregatedRouterTest.NOW);
    assertEquals("whole:no_prefill_endpoint", noPrefill.wireMode());
    assertEquals("healthy-filter", noPrefill.explanation().row("p0").filteredBy());
    assertTrue(
        noPrefill
            .explanation()
            .reason()
            .contains("Prefill side (cache-aware): no winner: healthy-filter left"),
        noPrefill.explanation().reason());

    for (EndpointState e : fleet) e.setHealthy(false);
    Explanation none = r.explain(q, fleet, DisaggregatedRouterTest.NOW).explanation();
    assertNull(none.winner());
    assertTrue(
        none.reason().startsWith("No winner: no endpoint of the decode side passed its filters."),
        none.reason());
  }
}
