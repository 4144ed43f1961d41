package io.kvgate.gateway.demo;

import io.kvgate.gateway.Gateway;
import io.kvgate.gateway.config.GatewayConfig;
import io.kvgate.sim.SimEngineConfig;
import io.kvgate.sim.SimFleet;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.vertx.core.Future;
import io.vertx.core.Vertx;

/**
 * The embedded default: a simulated fleet and a gateway routing to it, in one process. {@code
 * kvgate demo} runs it from the command line; tests start it in-process.
 */
public final class Demo {

  private final SimFleet fleet;
  private final Gateway gateway;
  private final java.util.List<Gateway> gateways;
  private final java.util.List<io.kvgate.sim.KvEventPublisher> publishers =
      new java.util.ArrayList<>();

  private Demo(SimFleet fleet, Gateway gateway) {
    this(fleet, java.util.List.of(gateway));
  }

  private Demo(SimFleet fleet, java.util.List<Gateway> gateways) {
    this.fleet = fleet;
    this.gateway = gateways.get(0);
    this.gateways = java.util.List.copyOf(gateways);
  }

  /**
   * {@code n} gateways over one simulated fleet of {@code replicas} engines, in one process:
   * gateway {@code i} serves the API on {@code port + 10 i} (admin on the next port); with {@code
   * clustered}, each runs an embedded cluster member on loopback port {@code clusterPort + i}
   * (gateway ids {@code gw-0..}) and they share their routing state (docs/CLUSTER.md); without,
   * they route independently, as gateways behind one VIP without kvgate's cluster. The first
   * gateway uses {@code registry}; the others have their own. Completes once every clustered
   * gateway has caught up.
   */
  public static Future<Demo> startGateways(
      Vertx vertx,
      PrometheusMeterRegistry registry,
      SimEngineConfig engine,
      int replicas,
      int engineBasePort,
      String host,
      int port,
      String policy,
      int n,
      boolean clustered,
      int clusterPort) {
    return SimFleet.start(vertx, engine, replicas, engineBasePort)
        .compose(
            fleet -> {
              String name = "kvgate-demo-" + Long.toHexString(System.nanoTime() & 0xffffffL);
              java.util.List<String> members = new java.util.ArrayList<>();
              for (int i = 0; i < n; i++) members.add("127.0.0.1:" + (clusterPort + i));
              java.util.List<Gateway> started = new java.util.ArrayList<>();
              Future<Void> chain = Future.succeededFuture();
              for (int i = 0; i < n; i++) {
                int k = i;
                chain =
                    chain.compose(
                        v -> {
                          int p = port == 0 ? 0 : port + 10 * k;
                          GatewayConfig c =
                              GatewayConfig.of(engine.model(), fleet.urls(), policy)
                                  .withListener(new GatewayConfig.Listener(host, p))
                                  .withAdmin(
                                      new GatewayConfig.Admin(
                                          true, "127.0.0.1", p == 0 ? 0 : p + 1));
                          if (clustered) {
                            c =
                                c.withCluster(
                                    GatewayConfig.Cluster.OFF
                                        .on(name, clusterPort + k, members)
                                        .withGatewayId("gw-" + k));
                          }
                          Future<Gateway> g =
                              k == 0
                                  ? Gateway.start(vertx, c, registry)
                                  : Gateway.start(
                                      vertx,
                                      c,
                                      new PrometheusMeterRegistry(
                                          io.micrometer.prometheusmetrics.PrometheusConfig
                                              .DEFAULT));
                          return g.map(
                              x -> {
                                started.add(x);
                                return (Void) null;
                              });
                        });
              }
              return chain
                  .compose(v -> Gateway.formed(vertx, started))
                  .map(v -> new Demo(fleet, started))
                  .recover(
                      e -> {
                        java.util.List<Future<Void>> closing = new java.util.ArrayList<>();
                        for (Gateway g : started) closing.add(g.close());
                        return Future.join(closing)
                            .transform(x -> fleet.close())
                            .transform(x -> Future.<Demo>failedFuture(e));
                      });
            });
  }

  /** Every gateway of the demo (one unless started by {@link #startGateways}). */
  public java.util.List<Gateway> gateways() {
    return gateways;
  }

  /**
   * As {@link #start(Vertx, PrometheusMeterRegistry, SimEngineConfig, int, int, String, int,
   * String)}; with {@code kvEvents}, the gateway also runs its gRPC listener on loopback (port + 2,
   * or ephemeral) and every engine publishes its KV events to it, so the index is precise
   * (docs/KV_EVENTS.md). Completes once every engine's stream is acknowledged.
   */
  public static Future<Demo> start(
      Vertx vertx,
      PrometheusMeterRegistry registry,
      SimEngineConfig engine,
      int replicas,
      int engineBasePort,
      String host,
      int port,
      String policy,
      boolean kvEvents) {
    if (!kvEvents) {
      return start(vertx, registry, engine, replicas, engineBasePort, host, port, policy);
    }
    return SimFleet.start(vertx, engine, replicas, engineBasePort)
        .compose(
            fleet ->
                withGateway(
                    vertx,
                    registry,
                    fleet,
                    GatewayConfig.of(engine.model(), fleet.urls(), policy)
                        .withGrpc(
                            new GatewayConfig.Grpc(
                                true, "127.0.0.1", port == 0 ? 0 : port + 2, null)),
                    host,
                    port))
        .compose(Demo::publishKvEvents);
  }

  private Future<Demo> publishKvEvents() {
    java.util.List<Future<Void>> acks = new java.util.ArrayList<>();
    for (io.kvgate.sim.SimEngine e : fleet.engines()) {
      io.kvgate.sim.KvEventPublisher p = e.publishKvEvents("127.0.0.1:" + gateway.grpcPort(), null);
      publishers.add(p);
      acks.add(p.firstAck());
    }
    return Future.all(acks)
        .map(v -> this)
        .recover(e -> close().transform(x -> Future.failedFuture(e)));
  }

  /** Whether the engines publish KV events to the gateway. */
  public boolean kvEvents() {
    return !publishers.isEmpty();
  }

  /**
   * Starts {@code replicas} engines from {@code engine} (ports from {@code engineBasePort}, 0 =
   * ephemeral) and a gateway on {@code host:port} routing them with {@code policy}.
   */
  public static Future<Demo> start(
      Vertx vertx,
      PrometheusMeterRegistry registry,
      SimEngineConfig engine,
      int replicas,
      int engineBasePort,
      String host,
      int port,
      String policy) {
    return SimFleet.start(vertx, engine, replicas, engineBasePort)
        .compose(
            fleet ->
                withGateway(
                    vertx,
                    registry,
                    fleet,
                    GatewayConfig.of(engine.model(), fleet.urls(), policy),
                    host,
                    port));
  }

  /**
   * Starts a gateway of {@code config} on {@code host:port} in front of {@code fleet}, its admin
   * listener (/metrics, /admin/*) next to the API port on loopback; closes the fleet if it fails.
   */
  private static volatile GatewayConfig.Batch batch = GatewayConfig.Batch.OFF;

  /**
   * The batch lane of the gateways the demo starts from now on in its single-gateway modes (the
   * plain fleet and {@code --kv-events}); off unless set (the CLI demo turns it on).
   */
  public static void useBatchLane(GatewayConfig.Batch b) {
    batch = b;
  }

  private static Future<Demo> withGateway(
      Vertx vertx,
      PrometheusMeterRegistry registry,
      SimFleet fleet,
      GatewayConfig config,
      String host,
      int port) {
    GatewayConfig c =
        config
            .withBatch(batch)
            .withListener(new GatewayConfig.Listener(host, port))
            .withAdmin(new GatewayConfig.Admin(true, "127.0.0.1", port == 0 ? 0 : port + 1));
    return Gateway.start(vertx, c, registry)
        .map(g -> new Demo(fleet, g))
        .recover(e -> fleet.close().transform(x -> Future.failedFuture(e)));
  }

  /**
   * A disaggregated demo: {@code prefill} engines with the prefill role, then {@code decode} with
   * the decode role (ports from {@code engineBasePort}, 0 = ephemeral), behind a gateway that runs
   * {@code protocol} for them; {@code policy} ranks the prefill pool.
   */
  public static Future<Demo> startPd(
      Vertx vertx,
      PrometheusMeterRegistry registry,
      SimEngineConfig engine,
      int prefill,
      int decode,
      GatewayConfig.PdProtocol protocol,
      int engineBasePort,
      String host,
      int port,
      String policy) {
    java.util.List<SimEngineConfig> configs = new java.util.ArrayList<>();
    for (int i = 0; i < prefill; i++) {
      configs.add(engine.toBuilder().role(io.kvgate.sim.Role.PREFILL).build());
    }
    for (int i = 0; i < decode; i++) {
      configs.add(engine.toBuilder().role(io.kvgate.sim.Role.DECODE).build());
    }
    return SimFleet.start(vertx, configs, engineBasePort)
        .compose(
            fleet -> {
              java.util.List<String> urls = fleet.urls();
              return withGateway(
                  vertx,
                  registry,
                  fleet,
                  GatewayConfig.disaggregated(
                      engine.model(),
                      protocol,
                      urls.subList(0, prefill),
                      urls.subList(prefill, urls.size()),
                      java.util.List.of(),
                      policy),
                  host,
                  port);
            });
  }

  public SimFleet fleet() {
    return fleet;
  }

  public Gateway gateway() {
    return gateway;
  }

  /** {@code http://127.0.0.1:port}. */
  public String url() {
    return "http://127.0.0.1:" + gateway.port();
  }

  public Future<Void> close() {
    java.util.List<Future<Void>> closing = new java.util.ArrayList<>();
    for (io.kvgate.sim.KvEventPublisher p : publishers) closing.add(p.close());
    return Future.join(closing)
        .transform(
            x -> {
              java.util.List<Future<Void>> gs = new java.util.ArrayList<>();
              for (Gateway g : gateways) gs.add(g.close());
              return Future.join(gs);
            })
        .transform(x -> fleet.close());
  }
}
