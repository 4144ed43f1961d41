package io.kvgate.gateway.http;

import io.kvgate.gateway.metrics.GatewayMetrics;
import io.kvgate.gateway.openai.OpenAiErrors;
import io.kvgate.gateway.openai.OpenAiException;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpConnection;
import io.vertx.core.http.HttpServerRequest;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The cap on client connections open at once ({@code listener.maxConnections}), shared by every
 * server instance of one gateway. A connection accepted beyond the cap is not served: its first
 * request gets 503 {@code too_many_connections} in OpenAI's shape with {@code Retry-After} and the
 * connection is closed, and one that sends nothing is closed after {@link #GRACE_MILLIS}. So idle
 * or slow clients cannot exhaust the process's file descriptors, and a client over the cap learns
 * why instead of seeing a reset.
 */
public final class ConnectionLimit {

  static final long GRACE_MILLIS = 1000;

  private final Vertx vertx;
  private final int max;
  private final GatewayMetrics metrics;
  private final AtomicInteger open = new AtomicInteger();
  private final Set<HttpConnection> over = ConcurrentHashMap.newKeySet();

  public ConnectionLimit(Vertx vertx, int max, GatewayMetrics metrics) {
    this.vertx = vertx;
    this.max = max;
    this.metrics = metrics;
    metrics.bindConnections(open::get, max);
  }

  /** Counts a new connection; marks it for refusal beyond the cap. */
  public void onConnection(HttpConnection c) {
    int n = open.incrementAndGet();
    c.closeHandler(
        v -> {
          open.decrementAndGet();
          over.remove(c);
        });
    if (n > max) {
      over.add(c);
      metrics.connectionRefused();
      vertx.setTimer(GRACE_MILLIS, t -> c.close());
    }
  }

  /** Answers {@code req} with 503 and returns true if its connection is over the cap. */
  public boolean refuse(HttpServerRequest req) {
    if (over.isEmpty() || !over.contains(req.connection())) return false;
    req.response().putHeader("connection", "close").putHeader("retry-after", "1");
    OpenAiErrors.send(
        req.response(),
        new OpenAiException(
            503,
            "server_error",
            null,
            "too_many_connections",
            "kvgate has "
                + max
                + " client connections open (listener.maxConnections); retry later or reuse a"
                + " connection"));
    return true;
  }

  /** Client connections open now. */
  public int open() {
    return open.get();
  }
}
