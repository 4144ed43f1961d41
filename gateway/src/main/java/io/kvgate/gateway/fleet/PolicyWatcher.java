package io.kvgate.gateway.fleet;

import io.kvgate.gateway.log.LogLimiter;
import io.kvgate.gateway.metrics.GatewayMetrics;
import io.kvgate.routing.Router;
import io.kvgate.routing.policy.Policies;
import io.kvgate.routing.policy.PolicyException;
import io.vertx.core.Vertx;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * Hot reload of policy files. Every model whose policy is a file path (not a preset name) has its
 * file's modification time polled every {@link #POLL_MILLIS} ms with Vert.x's async file system; a
 * change is read, parsed and compiled, and swapped in atomically. A file that does not parse or
 * compile is refused with one log line listing every problem, and the policy in force stays.
 */
public final class PolicyWatcher {

  static final long POLL_MILLIS = 1000;
  private static final Logger LOG = Logger.getLogger(PolicyWatcher.class.getName());

  private final Vertx vertx;
  private final GatewayMetrics metrics;
  private final List<Long> timers = new ArrayList<>();
  private final LogLimiter logs;

  public PolicyWatcher(Vertx vertx, GatewayMetrics metrics) {
    this(vertx, metrics, LogLimiter.defaults(metrics::logSuppressed));
  }

  /** Refused edits log through {@code logs} (category {@code policy}). */
  public PolicyWatcher(Vertx vertx, GatewayMetrics metrics, LogLimiter logs) {
    this.vertx = vertx;
    this.metrics = metrics;
    this.logs = logs;
  }

  public void start(List<ModelRoute> routes) {
    for (ModelRoute r : routes) {
      if (r.policyFileMillis() >= 0) watch(r, Path.of(r.policySource()).toString());
    }
  }

  private void watch(ModelRoute route, String file) {
    long[] lastModified = {route.policyFileMillis()};
    timers.add(
        vertx.setPeriodic(
            POLL_MILLIS,
            t ->
                vertx
                    .fileSystem()
                    .props(file)
                    .onSuccess(
                        p -> {
                          if (p.lastModifiedTime() == lastModified[0]) return;
                          lastModified[0] = p.lastModifiedTime();
                          vertx
                              .fileSystem()
                              .readFile(file)
                              .onSuccess(bytes -> reload(route, file, bytes.toString()));
                        })));
  }

  /**
   * Reads every file policy again now (an operator's {@code POST /admin/reload}), on a worker
   * thread; the answer maps each model with a policy file to null (swapped in) or why it was
   * refused. Preset policies are not files and are left alone.
   */
  public io.vertx.core.Future<java.util.Map<String, String>> reloadAll(List<ModelRoute> routes) {
    return vertx.executeBlocking(
        () -> {
          java.util.Map<String, String> out = new java.util.LinkedHashMap<>();
          for (ModelRoute r : routes) {
            if (r.policyFileMillis() < 0) continue;
            String file = Path.of(r.policySource()).toString();
            String yaml;
            try {
              yaml = java.nio.file.Files.readString(Path.of(file));
            } catch (java.io.IOException e) {
              out.put(r.name(), "cannot read " + file + ": " + e.getMessage());
              continue;
            }
            out.put(r.name(), reload(r, file, yaml));
          }
          return out;
        },
        false);
  }

  /**
   * Parses and compiles {@code yaml}; swaps it in, or refuses it with a log line. Returns null when
   * swapped in, else why not.
   */
  public String reload(ModelRoute route, String source, String yaml) {
    return install(route, source, yaml, true);
  }

  /** A policy one gateway of a cluster installed: (model, source, YAML). */
  public record Installed(ModelRoute route, String source, String yaml) {}

  private volatile java.util.function.Consumer<Installed> onReloaded;

  /** Called after each policy this gateway reloaded itself (the cluster ships it to peers). */
  public void onReloaded(java.util.function.Consumer<Installed> listener) {
    this.onReloaded = listener;
  }

  /**
   * Installs a policy a peer gateway reloaded, as {@link #reload} does, without telling {@link
   * #onReloaded}. Returns null when swapped in, else why not.
   */
  public String applyPeer(ModelRoute route, String source, String yaml) {
    return install(route, source, yaml, false);
  }

  private String install(ModelRoute route, String source, String yaml, boolean mine) {
    try {
      ModelRoute.Compiled compiled =
          route.compile(Policies.parse(yaml, source, route.plugins()), source);
      Router next = compiled.router();
      route.install(compiled);
      metrics.policyReload(route.name(), true);
      java.util.function.Consumer<Installed> l = onReloaded;
      if (mine && l != null) l.accept(new Installed(route, source, yaml));
      LOG.info(
          "policy for model '"
              + route.name()
              + (mine ? "' reloaded from " : "' installed as a peer gateway reloaded it from ")
              + source
              + ": now '"
              + next.name()
              + "'");
      return null;
    } catch (PolicyException e) {
      metrics.policyReload(route.name(), false);
      logs.log(
          LOG,
          Level.WARNING,
          "policy",
          () ->
              "policy edit refused for model '"
                  + route.name()
                  + "', keeping '"
                  + route.router().name()
                  + "': "
                  + e.getMessage());
      return e.getMessage();
    }
  }

  public void stop() {
    timers.forEach(vertx::cancelTimer);
  }
}
