package io.kvgate.sim;

import io.vertx.core.Future;
import io.vertx.core.Vertx;
import java.util.ArrayList;
import java.util.List;

/**
 * A set of simulated engines in one JVM, each on its own event loop: identical replicas, replica
 * {@code i} on {@code basePort + i} (or an ephemeral port when {@code basePort} is 0), or one
 * engine per given config (a P/D fleet: roles, ports and bootstrap ports per engine).
 */
public final class SimFleet {

  private final List<SimEngine> engines;

  private SimFleet(List<SimEngine> engines) {
    this.engines = List.copyOf(engines);
  }

  /**
   * Starts {@code replicas} engines from {@code base}; fails (closing any started) if one fails.
   */
  public static Future<SimFleet> start(
      Vertx vertx, SimEngineConfig base, int replicas, int basePort) {
    if (replicas < 1) throw new IllegalArgumentException("replicas must be >= 1");
    return start(vertx, java.util.Collections.nCopies(replicas, base), basePort);
  }

  /**
   * Starts one engine per config (they may differ, e.g. in role), engine {@code i} on {@code
   * basePort + i} (0: ephemeral); fails (closing any started) if one fails.
   */
  public static Future<SimFleet> start(Vertx vertx, List<SimEngineConfig> configs, int basePort) {
    if (configs.isEmpty()) throw new IllegalArgumentException("no engine to start");
    if (basePort < 0 || basePort + configs.size() - 1 > 65535)
      throw new IllegalArgumentException("basePort out of range");
    List<SimEngineConfig> ported = new ArrayList<>();
    for (int i = 0; i < configs.size(); i++) {
      ported.add(configs.get(i).withPort(basePort == 0 ? 0 : basePort + i));
    }
    return start(vertx, ported);
  }

  /**
   * Starts one engine per config, in order, each on its own configured port; fails (closing any
   * started) if one fails.
   *
   * @throws IllegalArgumentException if {@code configs} is empty
   */
  public static Future<SimFleet> start(Vertx vertx, List<SimEngineConfig> configs) {
    if (configs.isEmpty()) throw new IllegalArgumentException("no engine to start");
    List<Future<SimEngine>> started = new ArrayList<>();
    for (SimEngineConfig c : configs) started.add(SimEngine.start(vertx, c));
    return Future.join(started)
        .transform(
            ar -> {
              List<SimEngine> ok = new ArrayList<>();
              for (Future<SimEngine> f : started) if (f.succeeded()) ok.add(f.result());
              if (ar.succeeded()) return Future.succeededFuture(new SimFleet(ok));
              return Future.join(ok.stream().map(SimEngine::close).toList())
                  .transform(x -> Future.failedFuture(ar.cause()));
            });
  }

  public List<SimEngine> engines() {
    return engines;
  }

  /** Base URLs, in replica order. */
  public List<String> urls() {
    return engines.stream().map(SimEngine::url).toList();
  }

  /** Closes every engine. */
  public Future<Void> close() {
    return Future.join(engines.stream().map(SimEngine::close).toList()).mapEmpty();
  }
}
