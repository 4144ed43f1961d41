package io.kvgate.gateway.proxy;

import io.kvgate.gateway.config.GatewayConfig;
import io.kvgate.gateway.openai.OpenAiException;
import io.kvgate.routing.Decision;
import io.kvgate.routing.EndpointState;
import io.kvgate.routing.pd.DisaggregatedRouter;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpClientRequest;
import io.vertx.core.http.HttpClientResponse;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.RequestOptions;
import io.vertx.core.json.JsonObject;

/**
 * One prefill leg: the request sent to a prefill endpoint, whose answer is read whole and never
 * relayed. vLLM's answer carries the {@code kv_transfer_params} the decode leg needs ({@link #run}
 * completes with them, checked complete); SGLang's is read and dropped ({@code null}).
 *
 * <p>The leg holds a lease on its endpoint from its start to its end (the prefill's tokens as
 * pending prefill), teaches the index once its connection is held, counts its time and outcome, and
 * records its endpoint's health. It ends exactly once: success, failure, or {@link #abort}. A
 * failure is a {@link Failure}: retriable (connection, 5xx, timeout, incomplete transfer
 * parameters) or the engine's refusal of the request itself (4xx), which no other endpoint would
 * accept either.
 */
final class PrefillLeg {

  /** Why a leg failed: {@code kind} as in the upstream error metric; {@code retriable} or not. */
  static final class Failure extends RuntimeException {
    final String kind;
    final boolean retriable;
    final OpenAiException error;

    Failure(String kind, boolean retriable, OpenAiException error) {
      super(error.getMessage(), null, false, false);
      this.kind = kind;
      this.retriable = retriable;
      this.error = error;
    }
  }

  private final UpstreamProxy.Legs legs;
  private final Decision.Candidate candidate;
  private final EndpointState ep;
  private final Buffer body;
  private final boolean readTransferParams;
  private final Promise<JsonObject> done = Promise.promise();
  private final long startNanos = System.nanoTime();
  private EndpointState.Lease lease;
  private HttpClientRequest request;
  private long timer = -1;
  private boolean ended;

  /** The engine's whole answer arrived (its request needs no reset). */
  private boolean answered;

  PrefillLeg(
      UpstreamProxy.Legs legs,
      Decision.Candidate candidate,
      Buffer body,
      boolean readTransferParams) {
    this.legs = legs;
    this.candidate = candidate;
    this.ep = candidate.endpoint();
    this.body = body;
    this.readTransferParams = readTransferParams;
  }

  EndpointState endpoint() {
    return ep;
  }

  Decision.Candidate candidate() {
    return candidate;
  }

  /** Sends the leg; the future completes once, when it ends. */
  Future<JsonObject> run() {
    long prompt = legs.x.routing().promptTokens();
    long cached =
        Math.min(
            prompt, (long) candidate.matchedBlocks() * legs.config().routing().blockSizeTokens());
    lease = ep.acquire(prompt - cached, prompt, 1);
    legs.metrics().routed(legs.model(), legs.x.pd().router().prefillRouter().name(), ep.id());
    GatewayConfig.Pd pd = legs.pd();
    timer =
        legs.vertx()
            .setTimer(
                pd.prefillTimeout().toMillis(),
                t -> {
                  timer = -1;
                  fail(
                      "prefill_timeout",
                      true,
                      new OpenAiException(
                          504,
                          "server_error",
                          null,
                          "upstream_timeout",
                          "prefill endpoint "
                              + ep.id()
                              + " did not answer within "
                              + io.kvgate.routing.config.ConfigNode.formatDuration(
                                  pd.prefillTimeout())));
                });
    RequestOptions opts =
        legs.x
            .route()
            .target(ep)
            .request(HttpMethod.POST, legs.x.request().uri(), legs.config().timeouts().connect());
    legs.headers(opts);
    legs.client()
        .request(opts)
        .onComplete(
            ar -> {
              if (ended) {
                if (ar.succeeded()) ar.result().reset();
                return;
              }
              if (ar.failed()) {
                fail(
                    "connect",
                    true,
                    OpenAiException.upstream(
                        502,
                        "upstream_unavailable",
                        "prefill endpoint "
                            + ep.id()
                            + " could not be reached: "
                            + ar.cause().getMessage()));
                return;
              }
              request = ar.result();
              request.exceptionHandler(err -> {});
              legs.dispatched(DisaggregatedRouter.Leg.PREFILL, ep);
              request
                  .send(body)
                  .onComplete(
                      r -> {
                        if (ended) {
                          if (r.succeeded()) r.result().request().reset();
                          return;
                        }
                        if (r.failed()) {
                          fail(
                              "reset",
                              true,
                              OpenAiException.upstream(
                                  502,
                                  "upstream_failed",
                                  "prefill endpoint "
                                      + ep.id()
                                      + " failed before responding: "
                                      + r.cause().getMessage()));
                          return;
                        }
                        onResponse(r.result());
                      });
            });
    return done.future();
  }

  private void onResponse(HttpClientResponse resp) {
    int status = resp.statusCode();
    long limit = legs.pd().maxPrefillResponseBytes();
    Buffer acc = Buffer.buffer();
    resp.exceptionHandler(
        err ->
            fail(
                "reset_mid_response",
                true,
                OpenAiException.upstream(
                    502,
                    "upstream_failed",
                    "prefill endpoint " + ep.id() + " failed mid-answer: " + err.getMessage())));
    resp.handler(
        chunk -> {
          if (ended) return;
          // SGLang's answer (streamed when the client asked for a stream) is dropped; an error
          // answer and vLLM's JSON are kept, bounded.
          if (!readTransferParams && status < 400) return;
          if (acc.length() + chunk.length() > limit) {
            fail(
                "prefill_answer_too_large",
                true,
                OpenAiException.upstream(
                    502,
                    "upstream_failed",
                    "prefill endpoint " + ep.id() + " answered more than " + limit + " bytes"));
            resp.request().reset();
            return;
          }
          acc.appendBuffer(chunk);
        });
    resp.endHandler(
        v -> {
          answered = true;
          if (ended) return;
          if (status >= 500) {
            fail(
                "status_" + status,
                true,
                OpenAiException.upstream(
                    502,
                    "upstream_failed",
                    "prefill endpoint " + ep.id() + " answered " + status + detail(acc)));
            return;
          }
          if (status >= 400) {
            // The engine refused the request itself (too long, bad parameters): so would any
            // other; the client gets the engine's status and words.
            fail("status_" + status, false, engineRefusal(status, acc));
            return;
          }
          if (!readTransferParams) {
            succeed(null);
            return;
          }
          JsonObject params;
          try {
            params = new JsonObject(acc).getJsonObject("kv_transfer_params");
          } catch (RuntimeException e) {
            params = null;
          }
          java.util.List<String> missing = PdBodies.missingForDecode(params);
          if (!missing.isEmpty()) {
            legs.metrics().pdTransferIncomplete(legs.model(), ep.id());
            fail(
                "transfer_incomplete",
                true,
                OpenAiException.upstream(
                    502,
                    "upstream_failed",
                    "prefill endpoint "
                        + ep.id()
                        + " answered without kv_transfer_params "
                        + String.join(", ", missing)
                        + " (is its KV connector configured with kv_role kv_producer or"
                        + " kv_both?)"));
            return;
          }
          succeed(params);
        });
  }

  private static String detail(Buffer b) {
    String s = b.toString();
    if (s.length() > 300) s = s.substring(0, 300) + "...";
    return s.isEmpty() ? "" : ": " + s;
  }

  /** The engine's 4xx in OpenAI's shape, with its own message when it sent one. */
  private OpenAiException engineRefusal(int status, Buffer b) {
    String message = null;
    String param = null;
    try {
      JsonObject err = new JsonObject(b).getJsonObject("error");
      if (err != null) {
        message = err.getString("message");
        Object p = err.getValue("param");
        param = p instanceof String ps ? ps : null;
      }
    } catch (RuntimeException ignored) {
      // Not JSON: the raw text below.
    }
    if (message == null)
      message = "prefill endpoint " + ep.id() + " answered " + status + detail(b);
    return new OpenAiException(
        status, status == 404 ? "not_found_error" : "invalid_request_error", param, null, message);
  }

  private void succeed(JsonObject params) {
    if (!end("ok")) return;
    legs.health().recordSuccess(legs.model(), ep);
    done.complete(params);
  }

  private void fail(String kind, boolean retriable, OpenAiException error) {
    if (!end("failed")) return;
    if (retriable) legs.health().recordFailure(legs.model(), ep);
    legs.upstreamError(ep, "prefill_" + kind.replace("prefill_", ""), error.getMessage());
    if (request != null && !answered) request.reset();
    done.fail(new Failure(kind, retriable, error));
  }

  /**
   * Stops the leg if it still runs (the exchange ended): its request is reset so the engine stops,
   * its lease released; nothing is counted against its endpoint.
   */
  void abort() {
    if (!end("aborted")) return;
    if (request != null && !answered) request.reset();
    done.tryFail(
        new Failure("aborted", false, OpenAiException.upstream(499, "aborted", "aborted")));
  }

  /** The one end of the leg: timer, lease, duration; false if it had ended already. */
  private boolean end(String outcome) {
    if (ended) return false;
    ended = true;
    if (timer >= 0) legs.vertx().cancelTimer(timer);
    timer = -1;
    if (lease != null) lease.release();
    lease = null;
    legs.metrics().pdPrefill(legs.model(), ep.id(), outcome, System.nanoTime() - startNanos);
    return true;
  }
}
