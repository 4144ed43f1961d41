package io.kvgate.sim;

import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.http.HttpServerResponse;
import java.util.ArrayDeque;
import java.util.SplittableRandom;

/**
 * Applies an engine's {@link SimEngineConfig.Faults}: a refused or dying server, injected 500s, a
 * hang before the first byte, slow streams. Owned by the engine's event loop.
 */
final class FaultInjector {

  /** Where a streamed response's chunks go, in order; {@code end} on the last one. */
  interface StreamOut {
    void write(Buffer chunk, boolean end);
  }

  private final Vertx vertx;
  private final SimEngineConfig.Faults faults;
  private final SplittableRandom random;
  private HttpServer server;
  private HttpServer bootstrapServer;
  private long accepted;
  private boolean dead;

  FaultInjector(Vertx vertx, SimEngineConfig.Faults faults) {
    this.vertx = vertx;
    this.faults = faults;
    this.random = new SplittableRandom(faults.seed());
  }

  /**
   * Called once {@code server} and a prefill engine's {@code bootstrapServer} (or null) are bound;
   * with {@code refuseConnections} it closes both again, as a dead process would.
   */
  Future<Void> onListening(HttpServer server, HttpServer bootstrapServer) {
    this.server = server;
    this.bootstrapServer = bootstrapServer;
    if (faults.refuseConnections()) {
      dead = true;
      return closeServers();
    }
    return Future.succeededFuture();
  }

  private Future<Void> closeServers() {
    return bootstrapServer == null
        ? server.close()
        : Future.join(server.close(), bootstrapServer.close()).mapEmpty();
  }

  /** True once the server was closed by a fault: no request is served any more. */
  boolean dead() {
    return dead;
  }

  /**
   * Counts a completion request and applies {@code dieAfterRequests} and {@code errorRate}: true if
   * a fault took the request (its connection closed, or a 500 sent, counted in {@code metrics}),
   * false if it is to be served. The fault state (requests counted, the error draw) is the engine's
   * and carries over a {@linkplain SimEngine#restart() restart}.
   */
  boolean intercept(HttpServerRequest req, EngineMetrics metrics) {
    accepted++;
    if (faults.dieAfterRequests() > 0 && accepted > faults.dieAfterRequests()) {
      if (!dead) {
        dead = true;
        closeServers();
      }
      req.connection().close();
      return true;
    }
    if (faults.errorRate() > 0 && random.nextDouble() < faults.errorRate()) {
      metrics.injectedErrors++;
      new ApiError(
              500, "InternalServerError", null, "injected fault: error rate " + faults.errorRate())
          .send(req.response());
      return true;
    }
    return false;
  }

  /**
   * Runs {@code answer} now, or after {@code hangBeforeFirstByte} unless the client goes away
   * first.
   */
  void beforeFirstByte(HttpServerResponse resp, Runnable answer) {
    long hangMs = faults.hangBeforeFirstByte().toMillis();
    if (hangMs > 0) {
      long t = vertx.setTimer(hangMs, x -> answer.run());
      resp.closeHandler(v -> vertx.cancelTimer(t));
    } else {
      answer.run();
    }
  }

  /**
   * The stream output of {@code resp}: chunks go out as written, or with {@code slowStreamDelay}
   * one per delay, in order, after the engine produced them.
   */
  StreamOut streamOut(HttpServerResponse resp) {
    long slowMs = faults.slowStreamDelay().toMillis();
    if (slowMs <= 0) {
      return (b, end) -> {
        if (resp.closed()) return;
        if (end) resp.end(b);
        else resp.write(b);
      };
    }
    return new SlowStream(resp, slowMs);
  }

  private final class SlowStream implements StreamOut {
    private final HttpServerResponse resp;
    private final long slowMs;
    private final ArrayDeque<Buffer> pending = new ArrayDeque<>();
    private boolean draining;
    private boolean endAfterDrain;

    SlowStream(HttpServerResponse resp, long slowMs) {
      this.resp = resp;
      this.slowMs = slowMs;
    }

    @Override
    public void write(Buffer b, boolean end) {
      pending.add(b);
      endAfterDrain |= end;
      if (!draining) drain();
    }

    private void drain() {
      draining = true;
      vertx.setTimer(
          slowMs,
          t -> {
            if (resp.closed()) {
              pending.clear();
              draining = false;
              return;
            }
            Buffer b = pending.poll();
            if (pending.isEmpty() && endAfterDrain) resp.end(b);
            else resp.write(b);
            if (pending.isEmpty()) draining = false;
            else drain();
          });
    }
  }
}
