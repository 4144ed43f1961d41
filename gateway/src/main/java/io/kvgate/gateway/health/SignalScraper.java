package io.kvgate.gateway.health;

import io.kvgate.gateway.proxy.ModelRoute;
import io.kvgate.routing.EndpointState;
import io.kvgate.routing.EngineSignals;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpClient;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.RequestOptions;
import java.net.URI;
import java.time.Duration;
import java.util.List;

/**
 * Scrapes each engine's {@code /metrics} on an interval and publishes its load as {@link
 * EngineSignals} on the endpoint's state: waiting and running requests and KV-cache usage, from
 * vLLM's or SGLang's metric names (whichever the engine exposes). When the engine states its KV
 * capacity ({@code vllm:cache_config_info}'s {@code num_gpu_blocks} and {@code block_size}
 * labels), the prefix index's capacity for that endpoint is set from it, converted to the
 * gateway's block size. A failed scrape leaves the previous signals to age: policies treat
 * signals older than their {@code maxAge} as unknown.
 */
public final class SignalScraper {

  private final Vertx vertx;
  private final HttpClient client;
  private final Duration interval;
  private final int gatewayBlockTokens;
  private long timer = -1;

  public SignalScraper(Vertx vertx, HttpClient client, Duration interval, int gatewayBlockTokens) {
    this.vertx = vertx;
    this.client = client;
    this.interval = interval;
    this.gatewayBlockTokens = gatewayBlockTokens;
  }

  public void start(List<ModelRoute> routes) {
    Runnable round = () -> routes.forEach(r -> r.endpoints().forEach(e -> scrape(r, e)));
    round.run();
    timer = vertx.setPeriodic(interval.toMillis(), t -> round.run());
  }

  public void stop() {
    if (timer >= 0) vertx.cancelTimer(timer);
  }

  private void scrape(ModelRoute route, EndpointState e) {
    URI url = e.endpoint().url();
    RequestOptions opts = new RequestOptions().setMethod(HttpMethod.GET).setHost(url.getHost())
        .setPort(url.getPort() > 0 ? url.getPort() : 80).setURI(HealthChecker.path(url) + "/metrics")
        .setConnectTimeout(interval.toMillis()).setIdleTimeout(Math.max(interval.toMillis(), 1000));
    client.request(opts)
        .compose(req -> req.send())
        .compose(resp -> resp.statusCode() == 200 ? resp.body() : io.vertx.core.Future.failedFuture("status " + resp.statusCode()))
        .onSuccess(body -> {
          EngineMetricsText m = EngineMetricsText.parse(body.toString());
          if (!m.hasLoad()) return;
          e.setSignals(new EngineSignals(m.waiting(), m.running(), m.kvCacheUsage(), System.nanoTime()));
          if (m.capacityTokens() > 0) {
            route.index().setCapacityBlocks(e.slot(), Math.max(1, m.capacityTokens() / gatewayBlockTokens));
          }
        });
  }
}
