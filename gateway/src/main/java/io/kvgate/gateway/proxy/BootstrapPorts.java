package io.kvgate.gateway.proxy;

import io.kvgate.gateway.fleet.ModelRoute;
import io.kvgate.routing.EndpointState;
import io.vertx.core.Future;
import io.vertx.core.http.HttpClient;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.json.JsonObject;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.logging.Logger;

/**
 * The bootstrap port of each SGLang prefill endpoint: the endpoint's configured {@code
 * bootstrapPort}; else what the engine reports as {@code disaggregation_bootstrap_port} at {@code
 * GET /server_info} (older SGLang releases: {@code GET /get_server_info}); else SGLang's default,
 * 8998. A discovered port is kept; a failed discovery (both paths unanswered) answers 8998 and is
 * tried again after {@link #RETRY_AFTER}, so an engine that was still starting is asked again. One
 * discovery per endpoint runs at a time; requests arriving meanwhile wait for it.
 */
final class BootstrapPorts {

  private static final Logger LOG = Logger.getLogger(BootstrapPorts.class.getName());

  /** SGLang's {@code --disaggregation-bootstrap-port} default. */
  static final int SGLANG_DEFAULT = 8998;

  static final Duration RETRY_AFTER = Duration.ofSeconds(30);
  private static final Duration ASK_TIMEOUT = Duration.ofSeconds(2);

  private record Known(int port, boolean discovered, long retryAtNanos) {}

  private final HttpClient client;
  private final Map<String, Known> known = new ConcurrentHashMap<>();
  private final Map<String, Future<Integer>> asking = new ConcurrentHashMap<>();

  BootstrapPorts(HttpClient client) {
    this.client = client;
  }

  /** The bootstrap port of {@code e}, a prefill endpoint of {@code route}. */
  Future<Integer> port(ModelRoute route, EndpointState e) {
    Integer configured = route.model().bootstrapPorts().get(e.id());
    if (configured != null) return Future.succeededFuture(configured);
    String key = route.name() + "/" + e.id();
    Known k = known.get(key);
    if (k != null && (k.discovered() || System.nanoTime() < k.retryAtNanos())) {
      return Future.succeededFuture(k.port());
    }
    return asking.computeIfAbsent(
        key,
        x ->
            ask(route, e, "/server_info")
                .recover(err -> ask(route, e, "/get_server_info"))
                .map(
                    port -> {
                      known.put(key, new Known(port, true, 0));
                      return port;
                    })
                .recover(
                    err -> {
                      LOG.fine(
                          () ->
                              "endpoint "
                                  + e.id()
                                  + " reported no bootstrap port ("
                                  + err.getMessage()
                                  + "); using "
                                  + SGLANG_DEFAULT);
                      known.put(
                          key,
                          new Known(
                              SGLANG_DEFAULT, false, System.nanoTime() + RETRY_AFTER.toNanos()));
                      return Future.succeededFuture(SGLANG_DEFAULT);
                    })
                .andThen(done -> asking.remove(key)));
  }

  /** The port the engine reports at {@code path}; fails when it reports none. */
  private Future<Integer> ask(ModelRoute route, EndpointState e, String path) {
    return client
        .request(route.target(e).request(HttpMethod.GET, path, ASK_TIMEOUT).setIdleTimeout(5000))
        .compose(r -> r.send())
        .compose(
            resp ->
                resp.statusCode() == 200
                    ? resp.body()
                    : Future.failedFuture(path + " answered " + resp.statusCode()))
        .compose(
            body -> {
              Object v;
              try {
                v = new JsonObject(body).getValue("disaggregation_bootstrap_port");
              } catch (RuntimeException ex) {
                return Future.failedFuture(path + " is not JSON");
              }
              if (v instanceof Number n && n.intValue() > 0 && n.intValue() < 65536) {
                return Future.succeededFuture(n.intValue());
              }
              return Future.failedFuture(path + " reports no disaggregation_bootstrap_port");
            });
  }
}
