package io.kvgate.gateway.cli;

import io.kvgate.gateway.metrics.GatewayMetrics;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.vertx.core.Vertx;
import io.vertx.core.VertxOptions;
import io.vertx.micrometer.MicrometerMetricsFactory;
import io.vertx.micrometer.MicrometerMetricsOptions;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/** The process-level pieces the long-running commands share: Vert.x with metrics, and shutdown. */
final class CliRuntime {

  private CliRuntime() {}

  /**
   * A Vert.x instance whose own meters (HTTP server/client, pools, event bus) go to {@code
   * registry}, which must already carry its meter filters ({@link #registry()}): Vert.x registers
   * meters as it is built.
   *
   * <p>At the second connection Micrometer logs "This Gauge has been already registered
   * (vertx.http.server.active.connections)", once per process. That is Vert.x's: vertx-micrometer
   * 5.0 registers its connection and request gauges again for every connection and request, on
   * purpose, sharing one counter per id, and Micrometer 1.13.9+ warns about it
   * (vert-x3/vertx-micrometer-metrics#259, micrometer-metrics/micrometer#6931). The values are
   * right; kvgate registers each of its own gauges once ({@code StartupWarningsTest}).
   */
  static Vertx vertx(PrometheusMeterRegistry registry) {
    return vertx(registry, 0);
  }

  /** As {@link #vertx(PrometheusMeterRegistry)}, with at least {@code eventLoops} event loops. */
  static Vertx vertx(PrometheusMeterRegistry registry, int eventLoops) {
    VertxOptions options =
        new VertxOptions()
            .setMetricsOptions(
                new MicrometerMetricsOptions()
                    .setEnabled(true)
                    // Per-request meters of Vert.x's HTTP server and client cost a registry lookup
                    // with tags on every request and response; kvgate's own request metrics
                    // (kvgate_requests_total, kvgate_time_to_first_byte_seconds, ...) cover them.
                    .addDisabledMetricsCategory(io.vertx.micrometer.MetricsDomain.HTTP_SERVER)
                    .addDisabledMetricsCategory(io.vertx.micrometer.MetricsDomain.HTTP_CLIENT));
    options.setEventLoopPoolSize(Math.max(options.getEventLoopPoolSize(), eventLoops));
    // Netty's epoll transport where its native library loads (Linux x86-64), NIO elsewhere.
    options.setPreferNativeTransport(true);
    return Vertx.builder()
        .with(options)
        .withMetrics(new MicrometerMetricsFactory(registry))
        .build();
  }

  static PrometheusMeterRegistry registry() {
    return GatewayMetrics.newRegistry();
  }

  /**
   * Blocks the main thread until the process is asked to stop, then runs {@code onStop} (bounded).
   */
  static void awaitShutdown(Runnable onStop) throws InterruptedException {
    awaitShutdown(io.vertx.core.Promise.<Void>promise().future(), onStop);
  }

  /**
   * As {@link #awaitShutdown(Runnable)}, also returning when {@code done} completes (a drain asked
   * over the admin API): the caller then exits, and {@code onStop} runs in the shutdown hook.
   */
  static void awaitShutdown(io.vertx.core.Future<?> done, Runnable onStop)
      throws InterruptedException {
    CountDownLatch stopped = new CountDownLatch(1);
    done.onComplete(ar -> stopped.countDown());
    java.lang.Runtime.getRuntime()
        .addShutdownHook(
            new Thread(
                () -> {
                  onStop.run();
                  stopped.countDown();
                },
                "kvgate-shutdown"));
    stopped.await();
  }

  /** Waits for a Vert.x future from the main thread (never from an event loop). */
  static <T> T await(io.vertx.core.Future<T> f, long seconds) throws Exception {
    return f.toCompletionStage().toCompletableFuture().get(seconds, TimeUnit.SECONDS);
  }
}
