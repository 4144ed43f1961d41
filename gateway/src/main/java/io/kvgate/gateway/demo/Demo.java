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
  private final java.util.List<io.kvgate.sim.KvEventPublisher> publishers =
      new java.util.ArrayList<>();

  private Demo(SimFleet fleet, Gateway gateway) {
    this.fleet = fleet;
    this.gateway = gateway;
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
  private static Future<Demo> withGateway(
      Vertx vertx,
      PrometheusMeterRegistry registry,
      SimFleet fleet,
      GatewayConfig config,
      String host,
      int port) {
    GatewayConfig c =
        config
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
    return Future.join(closing).transform(x -> gateway.close()).transform(x -> fleet.close());
  }
}
