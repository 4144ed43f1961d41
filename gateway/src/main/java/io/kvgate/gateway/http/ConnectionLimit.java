package io.kvgate.gateway.http;

import io.kvgate.gateway.metrics.GatewayMetrics;
import io.kvgate.gateway.openai.OpenAiErrors;
import io.kvgate.gateway.openai.OpenAiException;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpConnection;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.net.SocketAddress;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The caps on client connections open at once, shared by every server instance of one gateway: all
 * clients together ({@code listener.maxConnections}) and one client address ({@code
 * listener.maxConnectionsPerClient}, 0 = none). A connection accepted beyond a cap is not served:
 * its first request gets 503 {@code too_many_connections} in OpenAI's shape with {@code
 * Retry-After} and the connection is closed, and one that sends nothing is closed after {@link
 * #GRACE_MILLIS}. So idle or slow clients cannot exhaust the process's file descriptors, one client
 * cannot take every connection, and a client over a cap learns why instead of seeing a reset.
 */
public final class ConnectionLimit {

  static final long GRACE_MILLIS = 1000;

  private final Vertx vertx;
  private final int max;
  private final int maxPerClient;
  private final GatewayMetrics metrics;
  private final AtomicInteger open = new AtomicInteger();

  /** Connections over a cap, to the message their first request is answered with. */
  private final Map<HttpConnection, String> over = new ConcurrentHashMap<>();

  /** Open connections per client address (only with a per-client cap). */
  private final Map<String, Integer> byClient = new ConcurrentHashMap<>();

  public ConnectionLimit(Vertx vertx, int max, GatewayMetrics metrics) {
    this(vertx, max, 0, metrics);
  }

  public ConnectionLimit(Vertx vertx, int max, int maxPerClient, GatewayMetrics metrics) {
    this.vertx = vertx;
    this.max = max;
    this.maxPerClient = maxPerClient;
    this.metrics = metrics;
    metrics.bindConnections(open::get, max);
    metrics.bindClientConnections(this::busiestClient, maxPerClient);
  }

  /** Counts a new connection; marks it for refusal beyond a cap. */
  public void onConnection(HttpConnection c) {
    int n = open.incrementAndGet();
    String client = maxPerClient > 0 ? clientOf(c) : null;
    int ofClient = client == null ? 0 : byClient.merge(client, 1, Integer::sum);
    ConnectionClose.onClose(
        c,
        () -> {
          open.decrementAndGet();
          if (client != null) byClient.computeIfPresent(client, (k, m) -> m <= 1 ? null : m - 1);
          over.remove(c);
        });
    String refusal = null;
    if (n > max) {
      metrics.connectionRefused();
      refusal =
          "kvgate has "
              + max
              + " client connections open (listener.maxConnections); retry later or reuse a"
              + " connection";
    } else if (client != null && ofClient > maxPerClient) {
      metrics.clientConnectionRefused();
      refusal =
          "this client address has "
              + maxPerClient
              + " connections open to kvgate (listener.maxConnectionsPerClient); reuse them or"
              + " close some";
    }
    if (refusal != null) {
      over.put(c, refusal);
      vertx.setTimer(GRACE_MILLIS, t -> c.close());
    }
  }

  /** Answers {@code req} with 503 and returns true if its connection is over a cap. */
  public boolean refuse(HttpServerRequest req) {
    if (over.isEmpty()) return false;
    String refusal = over.get(req.connection());
    if (refusal == null) return false;
    req.response().putHeader("connection", "close").putHeader("retry-after", "1");
    OpenAiErrors.send(
        req.response(),
        new OpenAiException(503, "server_error", null, "too_many_connections", refusal));
    return true;
  }

  /** Client connections open now. */
  public int open() {
    return open.get();
  }

  private int busiestClient() {
    int most = 0;
    for (int n : byClient.values()) most = Math.max(most, n);
    return most;
  }

  private static String clientOf(HttpConnection c) {
    SocketAddress a = c.remoteAddress();
    if (a == null) return "unknown";
    String host = a.hostAddress();
    return host != null ? host : a.toString();
  }
}
