package io.kvgate.gateway.cli;

import io.kvgate.gateway.demo.CloudsDemo;
import io.kvgate.gateway.demo.DemoStats;
import io.kvgate.gateway.demo.DemoWorkload;
import io.kvgate.gateway.demo.TierTable;
import io.micrometer.core.instrument.Counter;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.vertx.core.Vertx;
import java.util.Map;

/**
 * {@code kvgate demo --clouds}: the two-cloud failover scenario. Engines in two clouds, tier 1
 * (aws) preferred; the built-in workload runs throughout; at {@code --fail-at} seconds every tier-1
 * engine is killed, at {@code --recover-at} they are restarted; a per-tier table every {@code
 * --report-seconds} shows the traffic moving to tier 2 and back, and what the clients saw.
 */
final class DemoClouds {

  private DemoClouds() {}

  static int run(DemoCommand c, boolean policyGiven) throws Exception {
    if (c.replicas < 2) {
      System.err.println("demo: --clouds needs --replicas of at least 2");
      return 2;
    }
    if (c.recoverAt <= c.failAt) {
      System.err.println("demo: --recover-at must be later than --fail-at");
      return 2;
    }
    PrometheusMeterRegistry registry = CliRuntime.registry();
    Vertx vertx = CliRuntime.vertx(registry);
    CloudsDemo demo;
    try {
      demo =
          CliRuntime.await(
              CloudsDemo.start(
                  vertx,
                  registry,
                  c.sim.toConfig(),
                  c.replicas,
                  c.engineBasePort,
                  c.host,
                  c.port,
                  policyGiven ? c.policy : null),
              30);
    } catch (Exception e) {
      Throwable cause = e.getCause() != null ? e.getCause() : e;
      System.err.println("demo: could not start: " + cause.getMessage());
      CliRuntime.await(vertx.close(), 10);
      return 1;
    }
    String tier1 = CloudsDemo.CLOUDS.get(0);
    StringBuilder fleet = new StringBuilder();
    Map<String, String> clouds = demo.cloudOf();
    demo.urls()
        .forEach(
            (id, url) ->
                fleet.append(String.format("    %-8s cloud %-4s %s%n", id, clouds.get(id), url)));
    System.out.printf(
        """
        kvgate demo --clouds: gateway %s, model '%s', policy %s
          tier 1 = cloud %s, tier 2 = cloud %s (label-tier-filter on the 'cloud' label);
          cache-aware routing inside the tier; requests fail over to tier 2 when tier 1 has no
          healthy or unsaturated endpoint, and come back once it has.
          engines:
        %s  metrics: %s/metrics (kvgate_tier_requests_total, kvgate_tier_failovers_total)

        Scenario: %d conversations over %d tenants throughout; the first half of the time before the
        kill warms the caches up; at t=%ds every %s engine is killed, at t=%ds they are restarted
        (empty caches); a table every %d s, and the phases' TTFT relative to '%s'.
        %n""",
        demo.url(),
        demo.model(),
        policyGiven ? c.policy : "two-clouds (config/policies/two-clouds.yaml)",
        tier1,
        CloudsDemo.CLOUDS.get(1),
        fleet,
        demo.url(),
        c.conversations,
        c.tenants,
        c.failAt,
        tier1,
        c.recoverAt,
        c.reportSeconds,
        TierTable.STEADY);
    DemoStats stats = new DemoStats();
    DemoWorkload workload =
        new DemoWorkload(
            vertx,
            "127.0.0.1",
            demo.gateway().port(),
            demo.model(),
            stats,
            c.tenants,
            c.systemPromptChars,
            6,
            48);
    TierTable table = new TierTable(demo, stats, registry, System.out);
    workload.start(c.conversations);
    long reportMillis = c.reportSeconds * 1000L;
    // Restarted at each scenario event, so that every window lies within one phase.
    long[] report = {vertx.setPeriodic(reportMillis, t -> table.print())};
    Counter tier1Served =
        registry.counter("kvgate_tier_requests", "model", demo.model(), "tier", tier1);
    vertx.setTimer(
        c.failAt * 500L,
        t -> {
          vertx.cancelTimer(report[0]);
          table.phase(TierTable.STEADY);
          report[0] = vertx.setPeriodic(reportMillis, r -> table.print());
        });
    vertx.setTimer(
        c.failAt * 1000L,
        t -> {
          vertx.cancelTimer(report[0]);
          table.phase("tier 1 (" + tier1 + ") down: every engine killed");
          report[0] = vertx.setPeriodic(reportMillis, r -> table.print());
          long killed = System.nanoTime();
          demo.kill(tier1);
          watch(
              vertx,
              () -> demo.admitted(tier1) == 0,
              () ->
                  table.note("tier 1 ejected by the gateway " + since(killed) + " after the kill"));
        });
    vertx.setTimer(
        c.recoverAt * 1000L,
        t -> {
          vertx.cancelTimer(report[0]);
          table.phase("tier 1 (" + tier1 + ") restarted");
          report[0] = vertx.setPeriodic(reportMillis, r -> table.print());
          long restarted = System.nanoTime();
          double before = tier1Served.count();
          demo.restart(tier1);
          watch(
              vertx,
              () -> tier1Served.count() > before,
              () ->
                  table.note(
                      "tier 1 serving again "
                          + since(restarted)
                          + " after the restart (re-admitted by a passing health check)"));
        });
    if (c.durationSeconds > 0) {
      vertx.setTimer(
          c.durationSeconds * 1000L,
          t -> {
            workload.stop();
            vertx.cancelTimer(report[0]);
            table.print();
            System.out.print(table.summary());
            System.out.flush();
            new Thread(() -> System.exit(0), "kvgate-demo-exit").start();
          });
    }
    CliRuntime.awaitShutdown(
        () -> {
          workload.close();
          try {
            CliRuntime.await(demo.close(), 10);
            CliRuntime.await(vertx.close(), 10);
          } catch (Exception ignored) {
            // Shutting down anyway.
          }
        });
    return 0;
  }

  /** Runs {@code then} once {@code done} holds, checking every 20 ms on an event loop. */
  private static void watch(Vertx vertx, java.util.function.BooleanSupplier done, Runnable then) {
    vertx.setPeriodic(
        20,
        id -> {
          if (done.getAsBoolean()) {
            vertx.cancelTimer(id);
            then.run();
          }
        });
  }

  private static String since(long startNanos) {
    return String.format(java.util.Locale.ROOT, "%.2f s", (System.nanoTime() - startNanos) / 1e9);
  }
}
