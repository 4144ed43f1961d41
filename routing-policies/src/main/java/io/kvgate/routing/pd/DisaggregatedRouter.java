package io.kvgate.routing.pd;

import io.kvgate.routing.Decision;
import io.kvgate.routing.EndpointState;
import io.kvgate.routing.Explanation;
import io.kvgate.routing.Role;
import io.kvgate.routing.Router;
import io.kvgate.routing.RoutingRequest;
import io.kvgate.routing.prefix.PrefixIndex;
import io.kvgate.routing.prefix.PrefixMatch;
import java.util.ArrayList;
import java.util.List;

/**
 * Routes one disaggregated model: each side by its own criteria, and whether to disaggregate at
 * all.
 *
 * <ol>
 *   <li>The decode side (endpoints with role {@code decode} or {@code both}) is ranked by the
 *       decode router: by decode load, never by prefix (the {@code decode-load} preset, or the
 *       policy's {@code decode} profile).
 *   <li>A request of another API than chat or text completions (embeddings, tokenize, ...) is
 *       served whole on the decode side ({@link Reason#OTHER_API}), and so is one whose prompt
 *       kvgate could not render ({@link Reason#NOT_KEYED}).
 *   <li>Conditional disaggregation: the prompt tokens not cached on the first-ranked decode
 *       endpoint, by the model's prefix index, are the request's uncached part. Below {@code
 *       minUncachedTokens} the request is served whole there ({@link Reason#SHORT_UNCACHED}): its
 *       prefill is too short to be worth a second engine, a round trip and a KV transfer.
 *   <li>Otherwise the prefill pool (role {@code prefill}) is ranked by the prefill router, the
 *       model's own policy (cache-aware by default), on its own: the decode side's load never
 *       changes how prefill endpoints are priced. An empty ranking (no healthy prefill endpoint) is
 *       {@link Reason#NO_PREFILL_ENDPOINT}; the gateway falls back or fails, as configured.
 * </ol>
 *
 * <p>Both sides teach the one prefix index: a prefill leg through the prefill router, a decode leg
 * or a whole request also directly when the decode router does not write the index (the decode
 * endpoint holds the prompt's KV too, transferred or computed), so that the next turn of a
 * conversation finds its history there.
 *
 * <p>Thread-safe and non-blocking like every {@link Router}.
 */
public final class DisaggregatedRouter {

  /** How a request is served. */
  public enum Mode {
    /** Prefill on a prefill endpoint, decode on a decode endpoint. */
    DISAGGREGATED,
    /** One endpoint of the decode side does both. */
    WHOLE
  }

  /** Why a request is served whole, or {@link #NONE}. */
  public enum Reason {
    NONE("none"),
    SHORT_UNCACHED("short_uncached"),
    NOT_KEYED("not_keyed"),
    OTHER_API("other_api"),
    NO_PREFILL_ENDPOINT("no_prefill_endpoint");

    private final String wire;

    Reason(String wire) {
      this.wire = wire;
    }

    /** The metric tag value. */
    public String wireName() {
      return wire;
    }
  }

  /** Which leg an endpoint was dispatched for. */
  public enum Leg {
    PREFILL,
    DECODE
  }

  /**
   * A decision for one request.
   *
   * @param mode disaggregated or whole
   * @param reason why whole, or {@link Reason#NONE}
   * @param prefill the prefill pool ranked for this request; empty unless disaggregated
   * @param decode the decode side ranked (the decode legs', or the whole request's, candidates)
   * @param uncachedTokens prompt tokens not cached on the first decode candidate (-1: not measured)
   */
  public record PdDecision(
      Mode mode, Reason reason, Decision prefill, Decision decode, long uncachedTokens) {}

  private final Router prefill;
  private final Router decode;
  private final PrefixIndex index;
  private final long minUncachedTokens;

  /**
   * @param prefill ranks the prefill pool (the model's policy)
   * @param decode ranks the decode side by decode load
   * @param index the model's prefix index, shared with {@code prefill}
   * @param minUncachedTokens uncached prompt tokens below which a request is served whole
   */
  public DisaggregatedRouter(
      Router prefill, Router decode, PrefixIndex index, long minUncachedTokens) {
    this.prefill = prefill;
    this.decode = decode;
    this.index = index;
    this.minUncachedTokens = minUncachedTokens;
  }

  public Router prefillRouter() {
    return prefill;
  }

  public Router decodeRouter() {
    return decode;
  }

  public long minUncachedTokens() {
    return minUncachedTokens;
  }

  /**
   * Decides how to serve {@code request}.
   *
   * @param endpoints the model's routable endpoints, of every role
   */
  public PdDecision route(RoutingRequest request, List<EndpointState> endpoints, long nowNanos) {
    return route(request, true, endpoints, nowNanos);
  }

  /**
   * As above; {@code generation} false for a request of another API than chat or text completions
   * (only those two are disaggregated, as the engines' own proxies do).
   */
  public PdDecision route(
      RoutingRequest request, boolean generation, List<EndpointState> endpoints, long nowNanos) {
    return decide(request, generation, endpoints, nowNanos, null);
  }

  /**
   * The one decision procedure of {@link #route} and {@link #explain}: each side is ranked by its
   * router's {@code route}, or, when {@code sides} is given, by its {@code explain}, whose decision
   * is the one {@code route} makes (the explanations are kept in {@code sides}).
   */
  private PdDecision decide(
      RoutingRequest request,
      boolean generation,
      List<EndpointState> endpoints,
      long nowNanos,
      Sides sides) {
    List<EndpointState> prefillPool = new ArrayList<>();
    List<EndpointState> decodeSide = new ArrayList<>();
    for (EndpointState e : endpoints) {
      if (e.endpoint().role() == Role.PREFILL) prefillPool.add(e);
      else decodeSide.add(e);
    }
    if (sides != null) {
      sides.prefillPool = prefillPool;
      sides.decode = decode.explain(request, decodeSide, nowNanos);
    }
    Decision d =
        sides == null ? decode.route(request, decodeSide, nowNanos) : sides.decode.decision();
    Decision none = Decision.none("not disaggregated");
    if (!generation) return new PdDecision(Mode.WHOLE, Reason.OTHER_API, none, d, -1);
    if (!request.keyed()) return new PdDecision(Mode.WHOLE, Reason.NOT_KEYED, none, d, -1);
    long uncached = request.promptTokens();
    if (!d.isEmpty() && request.promptTokens() >= minUncachedTokens && minUncachedTokens > 0) {
      int matched = index.match(request.chain(), nowNanos).matched(d.first().endpoint().slot());
      uncached = request.promptTokens() - cachedTokens(request, matched);
    }
    if (!d.isEmpty() && uncached < minUncachedTokens) {
      return new PdDecision(Mode.WHOLE, Reason.SHORT_UNCACHED, none, d, uncached);
    }
    if (sides != null) sides.prefill = prefill.explain(request, prefillPool, nowNanos);
    Decision p =
        sides == null ? prefill.route(request, prefillPool, nowNanos) : sides.prefill.decision();
    if (p.isEmpty()) {
      return new PdDecision(Mode.WHOLE, Reason.NO_PREFILL_ENDPOINT, p, d, uncached);
    }
    return new PdDecision(Mode.DISAGGREGATED, Reason.NONE, p, d, uncached);
  }

  /** The sides' explanations, as {@link #decide} produces them for {@link #explain}. */
  private static final class Sides {
    List<EndpointState> prefillPool;
    Explanation decode;
    Explanation prefill;
  }

  /**
   * A disaggregated model's explanation: the explanation of both sides ({@link
   * Explanation#winner()} is the decode side's first, the endpoint that decodes or serves the
   * request whole; rows of both sides, each with its {@link Explanation.Side}), and how the request
   * would be served.
   *
   * @param explanation both sides' rows, the winner, and the reason (the mode and why, then each
   *     side's reason)
   * @param decision the decision as {@link #route} would make it
   * @param minUncachedTokens the threshold below which a request is served whole
   * @param decodePolicy the decode side's policy name ({@link Explanation#policy()} is the prefill
   *     side's, the model's own)
   */
  public record PdExplanation(
      Explanation explanation, PdDecision decision, long minUncachedTokens, String decodePolicy) {

    /** The first-ranked prefill endpoint's id when the request would be split; null otherwise. */
    public String prefillWinner() {
      return decision.mode() == Mode.DISAGGREGATED
          ? decision.prefill().first().endpoint().id()
          : null;
    }

    /**
     * {@code disaggregated}, or {@code whole:} and the reason's metric tag value ({@code
     * whole:short_uncached}), as {@code kvgate_pd_requests_total} counts it.
     */
    public String wireMode() {
      return decision.mode() == Mode.DISAGGREGATED
          ? "disaggregated"
          : "whole:" + decision.reason().wireName();
    }
  }

  /** As {@link #explain(RoutingRequest, boolean, List, long)} for a chat or text completion. */
  public PdExplanation explain(
      RoutingRequest request, List<EndpointState> endpoints, long nowNanos) {
    return explain(request, true, endpoints, nowNanos);
  }

  /**
   * What {@link #route} would decide at this moment, and why, without routing: each side explained
   * by its router ({@link Router#explain}: nothing dispatched, recorded or charged), by the same
   * procedure as {@code route}. Rows: the decode side's (side {@link Explanation.Side#DECODE}),
   * then the prefill pool's ({@link Explanation.Side#PREFILL}); when the request would be served
   * whole the prefill pool is not ranked (as by {@code route}) and its rows have rank 0, no filter,
   * and the index's matched blocks. The winner is the decode side's first (the endpoint that
   * decodes, or serves the request whole); the {@link PdExplanation} says whether the request is
   * split, why not, and the prefill winner.
   *
   * @param generation false for a request of another API than chat or text completions
   */
  public PdExplanation explain(
      RoutingRequest request, boolean generation, List<EndpointState> endpoints, long nowNanos) {
    Sides sides = new Sides();
    PdDecision pd = decide(request, generation, endpoints, nowNanos, sides);
    List<Explanation.Row> rows = new ArrayList<>();
    for (Explanation.Row r : sides.decode.rows()) rows.add(r.onSide(Explanation.Side.DECODE));
    if (sides.prefill != null) {
      for (Explanation.Row r : sides.prefill.rows()) rows.add(r.onSide(Explanation.Side.PREFILL));
    } else {
      PrefixMatch m =
          request.keyed()
              ? index.match(request.chain(), nowNanos)
              : PrefixMatch.none(request.chain().length());
      for (EndpointState e : sides.prefillPool) {
        rows.add(
            new Explanation.Row(
                e.id(),
                Explanation.Side.PREFILL,
                0,
                null,
                m.matched(e.slot()),
                0,
                List.of(),
                List.of(),
                null));
      }
    }
    Decision d = pd.decode();
    String winner = d.isEmpty() ? null : d.first().endpoint().id();
    String prefillWinner =
        pd.mode() == Mode.DISAGGREGATED ? pd.prefill().first().endpoint().id() : null;
    Explanation x =
        new Explanation(
            request.model(),
            prefill.name(),
            request.chain().length(),
            request.keyed() ? request.chain().blockSize() : 0,
            d,
            rows,
            winner,
            reason(pd, sides, winner, prefillWinner));
    return new PdExplanation(x, pd, minUncachedTokens, decode.name());
  }

  private String reason(PdDecision pd, Sides sides, String winner, String prefillWinner) {
    String decodeWhy = "Decode side (" + decode.name() + "): " + sides.decode.reason();
    if (winner == null) {
      return "No winner: no endpoint of the decode side passed its filters. " + decodeWhy;
    }
    String head =
        switch (pd.reason()) {
          case NONE ->
              "Disaggregated: prefill on "
                  + prefillWinner
                  + ", decode on "
                  + winner
                  + "; "
                  + uncachedWords(pd)
                  + " not cached on "
                  + winner
                  + " (at least minUncachedTokens "
                  + minUncachedTokens
                  + ")";
          case SHORT_UNCACHED ->
              "Served whole on "
                  + winner
                  + " (short_uncached): "
                  + uncachedWords(pd)
                  + " not cached there, fewer than minUncachedTokens "
                  + minUncachedTokens;
          case NOT_KEYED ->
              "Served whole on " + winner + " (not_keyed): kvgate could not render the prompt";
          case OTHER_API ->
              "Served whole on "
                  + winner
                  + " (other_api): only chat and text completions are disaggregated";
          case NO_PREFILL_ENDPOINT ->
              "Served whole on "
                  + winner
                  + " if the fallback allows it (no_prefill_endpoint): no prefill endpoint"
                  + " passed the filters";
        };
    StringBuilder sb = new StringBuilder(head).append(". ").append(decodeWhy);
    if (sides.prefill != null) {
      sb.append(" Prefill side (").append(prefill.name()).append("): ");
      sb.append(sides.prefill.reason());
    }
    return sb.toString();
  }

  private static String uncachedWords(PdDecision pd) {
    return pd.uncachedTokens() + " prompt tokens";
  }

  /** Prompt tokens covered by {@code matched} leading blocks of the request's chain. */
  static long cachedTokens(RoutingRequest r, int matched) {
    long units = r.chain().totalUnits();
    if (units <= 0 || matched <= 0) return 0;
    double tokensPerBlock = r.chain().blockSize() * (double) r.promptTokens() / units;
    return Math.min(r.promptTokens(), Math.round(matched * tokensPerBlock));
  }

  /**
   * The request is being written to {@code endpoint} for {@code leg} (a whole request is a decode
   * leg that also prefills).
   */
  public void onDispatched(Leg leg, RoutingRequest request, EndpointState endpoint, long nowNanos) {
    if (leg == Leg.PREFILL) {
      prefill.onDispatched(request, endpoint, nowNanos);
      return;
    }
    decode.onDispatched(request, endpoint, nowNanos);
    if (request.keyed() && !decode.predictsCachedPrefix()) {
      index.recordRouted(endpoint.slot(), request.chain(), nowNanos);
    }
  }

  /**
   * True if a dispatch of {@code leg} writes the prefix index (a cost proportional to the prompt).
   */
  public boolean writesOnDispatch(Leg leg) {
    return leg == Leg.DECODE || prefill.writesOnDispatch();
  }
}
