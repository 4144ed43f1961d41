package io.kvgate.gateway.proxy;

import io.kvgate.routing.Decision;
import io.vertx.core.Future;
import java.util.concurrent.ThreadLocalRandom;

/**
 * SGLang's disaggregated protocol (the bootstrap form of SGLang's {@code mini_lb} at {@code
 * 001c2ae0} and of the SGLang model gateway's PD router): the client's body plus {@code
 * bootstrap_host} (the prefill endpoint's host), {@code bootstrap_port} (its bootstrap server's
 * port: configured, else reported by the engine, else 8998) and {@code bootstrap_room} (a random
 * integer in [0, 2^63 − 1], new for every pair) goes to the prefill and the decode endpoint at the
 * same time; the decode engine fetches the prompt's KV from the prefill engine by the room, and its
 * answer is relayed. The prefill answer is read and dropped; its failure before the client's first
 * byte abandons the decode attempt and runs the pair again (a room serves one pair, so nothing is
 * reused: a failed decode attempt also runs both legs again), on the next prefill endpoint after a
 * prefill failure, on the next decode endpoint after a decode failure.
 */
final class SglangPlan extends PdPlan {

  private final BootstrapPorts ports;

  SglangPlan(UpstreamProxy.Legs legs, BootstrapPorts ports) {
    super(legs);
    this.ports = ports;
  }

  @Override
  public Future<Target> next(int i, String lastKind) {
    if (leg != null) {
      leg.abort();
      leg = null;
    }
    if (lastKind != null && !"prefill_failed".equals(lastKind)) decodeAt++;
    if (whole) return decodeCandidate(null).map(legs::whole);
    if (!prefillLeft()) return fallback(null);
    Decision.Candidate p = prefillRanked.get(prefillAt);
    return decodeCandidate(null)
        .compose(
            d ->
                onThisLoop(ports.port(legs.x.route(), p.endpoint()))
                    .map(port -> pair(i, p, d, port)));
  }

  /**
   * {@code f}, completed on this exchange's event loop: a discovery another exchange started may
   * complete on that exchange's loop, and the legs must start on their own.
   */
  private static <T> Future<T> onThisLoop(Future<T> f) {
    if (f.isComplete()) return f;
    io.vertx.core.Context here = io.vertx.core.Vertx.currentContext();
    if (here == null) return f;
    io.vertx.core.Promise<T> p = io.vertx.core.Promise.promise();
    f.onComplete(ar -> here.runOnContext(v -> p.handle(ar)));
    return p.future();
  }

  /** Starts the prefill leg of attempt {@code i} and returns its decode target. */
  private Target pair(int i, Decision.Candidate p, Decision.Candidate d, Integer port) {
    if (closed()) throw ended();
    long room = ThreadLocalRandom.current().nextLong() & Long.MAX_VALUE;
    String host = legs.x.route().target(p.endpoint()).host();
    io.vertx.core.buffer.Buffer body = PdBodies.sglang(legs.x.parsed().raw(), host, port, room);
    PrefillLeg started = legs.prefill(p, body, false);
    leg = started;
    started
        .run()
        .onFailure(
            err -> {
              if (!(err instanceof PrefillLeg.Failure f) || f.kind.equals("aborted")) return;
              if (leg == started) leg = null;
              if (!f.retriable) {
                // The engine refused the request itself: the decode side would too.
                legs.prefillRefused(i, f.error);
                return;
              }
              prefillFailed(f);
              legs.prefillFailed(i, f.error);
            })
        .onSuccess(
            v -> {
              if (leg == started) leg = null;
            });
    return legs.decodeLeg(d, body, p.endpoint());
  }
}
