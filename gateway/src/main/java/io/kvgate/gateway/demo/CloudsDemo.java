package io.kvgate.gateway.demo;

import io.kvgate.gateway.Gateway;
import io.kvgate.gateway.config.GatewayConfig;
import io.kvgate.routing.Endpoint;
import io.kvgate.routing.EndpointState;
import io.kvgate.routing.Role;
import io.kvgate.sim.SimEngine;
import io.kvgate.sim.SimEngineConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicReferenceArray;

/**
 * The two-cloud demo: simulated engines labelled {@code cloud: aws} (tier 1) and {@code cloud: gcp}
 * (tier 2), a gateway routing them with the {@code two-clouds} policy (the text of
 * config/policies/two-clouds.yaml), and the faults the demo injects: a whole tier killed, then
 * restarted on the same ports (with cold caches, like a real restart). {@code kvgate demo --clouds}
 * runs it from the command line; tests start it in-process.
 */
public final class CloudsDemo {

  /** The tiers, most preferred first, as the policy names them. */
  public static final List<String> CLOUDS = List.of("aws", "gcp");

  private static final Map<String, String> REGIONS =
      Map.of("aws", "us-east-1", "gcp", "us-central1");

  /** Health checks quick enough that a recovered tier is re-admitted within seconds. */
  public static final GatewayConfig.Health HEALTH =
      new GatewayConfig.Health(Duration.ofSeconds(1), Duration.ofSeconds(1), 3)
          .withBaseEjectionTime(Duration.ofSeconds(5));

  private final Vertx vertx;
  private final Gateway gateway;
  private final String model;
  private final List<String> ids;
  private final List<String> clouds;
  private final List<SimEngineConfig> configs;
  private final AtomicReferenceArray<SimEngine> engines;
  private final Path policyFile;

  private CloudsDemo(
      Vertx vertx,
      Gateway gateway,
      String model,
      List<String> ids,
      List<String> clouds,
      List<SimEngine> engines,
      Path policyFile) {
    this.vertx = vertx;
    this.gateway = gateway;
    this.model = model;
    this.ids = List.copyOf(ids);
    this.clouds = List.copyOf(clouds);
    this.engines = new AtomicReferenceArray<>(engines.toArray(SimEngine[]::new));
    List<SimEngineConfig> c = new ArrayList<>();
    for (SimEngine e : engines) c.add(e.config().withPort(e.port()));
    this.configs = List.copyOf(c);
    this.policyFile = policyFile;
  }

  /** The two-clouds policy as shipped (config/policies/two-clouds.yaml). */
  public static String policyText() {
    try (InputStream in = CloudsDemo.class.getResourceAsStream("two-clouds.yaml")) {
      if (in == null) throw new IllegalStateException("two-clouds.yaml resource missing");
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /**
   * Starts {@code replicas} engines (the first half, rounded up, in aws; the rest in gcp; ports
   * from {@code engineBasePort}, 0 = ephemeral) and a gateway on {@code host:port}. Call off the
   * event loop: the policy is written to a temporary file, deleted by {@link #close()}.
   *
   * @param policy a policy file or preset to use instead of the two-clouds policy, or null
   */
  public static Future<CloudsDemo> start(
      Vertx vertx,
      PrometheusMeterRegistry registry,
      SimEngineConfig engine,
      int replicas,
      int engineBasePort,
      String host,
      int port,
      String policy) {
    if (replicas < 2) throw new IllegalArgumentException("--clouds needs at least 2 replicas");
    Path file;
    try {
      file = Files.createTempFile("kvgate-two-clouds", ".yaml");
      Files.writeString(file, policyText());
    } catch (IOException e) {
      return Future.failedFuture(e);
    }
    String source = policy != null ? policy : file.toString();
    List<String> ids = new ArrayList<>();
    List<String> clouds = new ArrayList<>();
    int tierOne = (replicas + 1) / 2;
    for (int i = 0; i < replicas; i++) {
      String cloud = i < tierOne ? CLOUDS.get(0) : CLOUDS.get(1);
      clouds.add(cloud);
      ids.add(cloud + "-" + (i < tierOne ? i : i - tierOne));
    }
    List<Future<SimEngine>> started = new ArrayList<>();
    for (int i = 0; i < replicas; i++) {
      started.add(
          SimEngine.start(vertx, engine.withPort(engineBasePort == 0 ? 0 : engineBasePort + i)));
    }
    return Future.join(started)
        .transform(
            ar -> {
              List<SimEngine> ok = new ArrayList<>();
              for (Future<SimEngine> f : started) if (f.succeeded()) ok.add(f.result());
              if (ar.failed()) {
                delete(vertx, file);
                return Future.join(ok.stream().map(SimEngine::close).toList())
                    .transform(x -> Future.<CloudsDemo>failedFuture(ar.cause()));
              }
              List<Endpoint> endpoints = new ArrayList<>();
              for (int i = 0; i < replicas; i++) {
                String cloud = clouds.get(i);
                endpoints.add(
                    new Endpoint(
                        ids.get(i),
                        URI.create(ok.get(i).url()),
                        engine.model(),
                        Role.BOTH,
                        Map.of("cloud", cloud, "region", REGIONS.get(cloud)),
                        1,
                        Set.of()));
              }
              GatewayConfig config =
                  GatewayConfig.of(engine.model(), List.of(), source)
                      .withModels(
                          List.of(
                              new GatewayConfig.Model(engine.model(), source, Set.of(), endpoints)))
                      .withListener(new GatewayConfig.Listener(host, port))
                      .withHealth(HEALTH);
              return Gateway.start(vertx, config, registry)
                  .map(g -> new CloudsDemo(vertx, g, engine.model(), ids, clouds, ok, file))
                  .recover(
                      e -> {
                        delete(vertx, file);
                        return Future.join(ok.stream().map(SimEngine::close).toList())
                            .transform(x -> Future.failedFuture(e));
                      });
            });
  }

  /** Deletes a temporary file on a worker thread (never on an event loop). */
  private static Future<Void> delete(Vertx vertx, Path f) {
    return vertx
        .executeBlocking(
            () -> {
              Files.deleteIfExists(f);
              return null;
            })
        .recover(e -> Future.succeededFuture())
        .mapEmpty();
  }

  public Gateway gateway() {
    return gateway;
  }

  public String model() {
    return model;
  }

  /** {@code http://127.0.0.1:port}. */
  public String url() {
    return "http://127.0.0.1:" + gateway.port();
  }

  /** The policy file in use (the two-clouds policy's temporary copy unless another was given). */
  public String policySource() {
    return gateway.route(model).policySource();
  }

  /** Endpoint id to cloud, in replica order. */
  public Map<String, String> cloudOf() {
    Map<String, String> out = new LinkedHashMap<>();
    for (int i = 0; i < ids.size(); i++) out.put(ids.get(i), clouds.get(i));
    return out;
  }

  /** The engine's base URL per endpoint id, in replica order. */
  public Map<String, String> urls() {
    Map<String, String> out = new LinkedHashMap<>();
    for (int i = 0; i < ids.size(); i++) out.put(ids.get(i), engines.get(i).url());
    return out;
  }

  /** Engines of {@code cloud} whose process is running. */
  public int up(String cloud) {
    int n = 0;
    for (int i = 0; i < ids.size(); i++)
      if (clouds.get(i).equals(cloud) && engines.get(i) != null) n++;
    return n;
  }

  /** Endpoints of {@code cloud}. */
  public int size(String cloud) {
    return (int) clouds.stream().filter(cloud::equals).count();
  }

  /** Endpoints of {@code cloud} the gateway currently admits (health checks, outlier ejection). */
  public int admitted(String cloud) {
    int n = 0;
    for (EndpointState e : gateway.route(model).endpoints()) {
      if (cloud.equals(e.endpoint().label("cloud")) && e.healthy()) n++;
    }
    return n;
  }

  /** Kills every engine of {@code cloud}: listeners closed, streams in flight cut. */
  public Future<Void> kill(String cloud) {
    List<Future<Void>> closed = new ArrayList<>();
    for (int i = 0; i < ids.size(); i++) {
      if (!clouds.get(i).equals(cloud)) continue;
      SimEngine e = engines.getAndSet(i, null);
      if (e != null) closed.add(e.close());
    }
    return Future.join(closed).mapEmpty();
  }

  /** Restarts the killed engines of {@code cloud} on their ports, with empty caches. */
  public Future<Void> restart(String cloud) {
    List<Future<SimEngine>> started = new ArrayList<>();
    for (int i = 0; i < ids.size(); i++) {
      if (!clouds.get(i).equals(cloud) || engines.get(i) != null) continue;
      int slot = i;
      started.add(
          SimEngine.start(vertx, configs.get(i))
              .onSuccess(
                  e -> {
                    if (!engines.compareAndSet(slot, null, e)) e.close();
                  }));
    }
    return Future.join(started).mapEmpty();
  }

  /** Closes the gateway and every running engine, and deletes the policy's temporary file. */
  public Future<Void> close() {
    return gateway
        .close()
        .compose(
            v -> {
              List<Future<Void>> closed = new ArrayList<>();
              for (int i = 0; i < ids.size(); i++) {
                SimEngine e = engines.getAndSet(i, null);
                if (e != null) closed.add(e.close());
              }
              return Future.join(closed).<Void>mapEmpty();
            })
        .eventually(() -> delete(vertx, policyFile));
  }
}
