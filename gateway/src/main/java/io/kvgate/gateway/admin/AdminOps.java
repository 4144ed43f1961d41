package io.kvgate.gateway.admin;

import io.kvgate.gateway.fleet.ModelRoute;
import io.kvgate.gateway.fleet.PolicyWatcher;
import io.kvgate.gateway.health.HealthChecker;
import io.kvgate.gateway.index.IndexHealth;
import io.kvgate.gateway.index.IndexMode;
import io.kvgate.gateway.openai.OpenAiException;
import io.kvgate.proto.v1.EndpointInfo;
import io.kvgate.proto.v1.EndpointRef;
import io.kvgate.proto.v1.ListEndpointsResponse;
import io.kvgate.proto.v1.ListModelsResponse;
import io.kvgate.proto.v1.ModelInfo;
import io.kvgate.proto.v1.ReloadPoliciesResponse;
import io.kvgate.routing.EndpointState;
import io.vertx.core.Future;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * The admin operations, one implementation for both surfaces: {@link AdminGrpcService} (gRPC,
 * {@code kvgate.v1.AdminService}) and the admin HTTP listener's {@code /admin/*} routes, which
 * answer the same messages as JSON with the .proto field names. Failures are {@link
 * OpenAiException}s with an HTTP status (404 unknown model or endpoint, 400 bad input), which the
 * gRPC side maps to its status codes.
 *
 * <p>Reads are of thread-safe state (endpoint counters, index sizes, health flags) and may run on
 * any thread; {@link #reload} runs the file reads on a Vert.x worker.
 */
public final class AdminOps {

  private final List<ModelRoute> routes;
  private final IndexHealth index;
  private final HealthChecker health;
  private final PolicyWatcher policies;
  private final Explainer explainer;

  /**
   * @param explainer answers {@link #explain}; null leaves explain unavailable (404)
   */
  public AdminOps(
      List<ModelRoute> routes,
      IndexHealth index,
      HealthChecker health,
      PolicyWatcher policies,
      Explainer explainer) {
    this.routes = routes;
    this.index = index;
    this.health = health;
    this.policies = policies;
    this.explainer = explainer;
  }

  /** Explains a request body without sending it (see {@code ExplainResponse}). */
  @FunctionalInterface
  public interface Explainer {
    io.kvgate.proto.v1.ExplainResponse explain(String path, io.vertx.core.buffer.Buffer body);
  }

  public ListModelsResponse models() {
    ListModelsResponse.Builder b = ListModelsResponse.newBuilder();
    for (ModelRoute r : routes) {
      int healthy = 0;
      for (EndpointState e : r.endpoints()) if (e.healthy()) healthy++;
      b.addModels(
          ModelInfo.newBuilder()
              .setName(r.name())
              .setPolicy(r.router().name())
              .setPolicySource(r.policySource())
              .setEndpoints(r.endpoints().size())
              .setHealthyEndpoints(healthy)
              .setPdProtocol(
                  r.model().pd().enabled()
                      ? r.model().pd().protocol().name().toLowerCase(java.util.Locale.ROOT)
                      : "")
              .setIndexEntries(r.index().size())
              .setIndexBytes(r.index().estimatedBytes()));
    }
    return b.build();
  }

  /**
   * @param model only this model's endpoints; all when null or empty
   * @throws OpenAiException 404 for an unknown model
   */
  public ListEndpointsResponse endpoints(String model) {
    ListEndpointsResponse.Builder b = ListEndpointsResponse.newBuilder();
    boolean any = false;
    for (ModelRoute r : routes) {
      if (model != null && !model.isEmpty() && !r.name().equals(model)) continue;
      any = true;
      for (EndpointState e : r.endpoints()) b.addEndpoints(info(r, e));
    }
    if (!any && model != null && !model.isEmpty()) throw unknownModel(model);
    return b.build();
  }

  /**
   * Drains ({@code drain}) or undrains one endpoint.
   *
   * @throws OpenAiException 400 without model or endpoint, 404 when either is unknown
   */
  public EndpointInfo drain(EndpointRef ref, boolean drain) {
    if (ref.getModel().isEmpty() || ref.getEndpoint().isEmpty()) {
      throw OpenAiException.badRequest(
          null, "expected {\"model\": \"<model>\", \"endpoint\": \"<endpoint id or URL>\"}");
    }
    ModelRoute route = route(ref.getModel());
    EndpointState e = endpoint(route, ref.getEndpoint());
    route.setDrained(e.id(), drain);
    return info(route, e);
  }

  /**
   * Reads every policy file again. Models whose new policy was refused keep the running one and
   * name the problem.
   */
  public Future<ReloadPoliciesResponse> reload() {
    return policies
        .reloadAll(routes)
        .map(
            results -> {
              ReloadPoliciesResponse.Builder b = ReloadPoliciesResponse.newBuilder();
              for (Map.Entry<String, String> e : results.entrySet()) {
                if (e.getValue() == null) b.addReloaded(e.getKey());
                else b.addProblems(e.getKey() + ": " + e.getValue());
              }
              return b.build();
            });
  }

  /**
   * Explains {@code body} as a request to {@code path}.
   *
   * @throws OpenAiException as the API would answer the body (400, 404), or 404 when explain is
   *     unavailable
   */
  public io.kvgate.proto.v1.ExplainResponse explain(String path, io.vertx.core.buffer.Buffer body) {
    if (explainer == null) {
      throw OpenAiException.notFound("unknown_url", "explain is not available on this gateway");
    }
    return explainer.explain(path, body);
  }

  /** One endpoint as the admin API reports it. */
  public EndpointInfo info(ModelRoute r, EndpointState e) {
    IndexHealth.Engine engine = index.of(e);
    IndexMode mode = engine == null ? IndexMode.APPROXIMATE : engine.mode();
    EndpointInfo.Builder b =
        EndpointInfo.newBuilder()
            .setModel(r.name())
            .setId(e.id())
            .setUrl(e.endpoint().url().toString())
            .setRole(e.endpoint().role().wireName())
            .setHealthy(e.healthy())
            .setDrained(r.drained(e))
            .setErrorRate(health.errorRate(e))
            .setInFlight(e.localInFlight())
            .setPendingPrefillTokens(e.pendingPrefillTokens())
            .setRunning((int) Math.round(e.signals().running()))
            .setWaiting((int) Math.round(e.signals().waiting()))
            .setKvUtilization(e.signals().kvCacheUsage())
            .setIndexMode(proto(mode))
            .setIndexBlocks(r.index().heldBlocks(e.slot()))
            .setIndexCapacityBlocks(r.index().capacityBlocks(e.slot()))
            .setEngineCachedBlocks(engine == null ? -1 : engine.engineCachedBlocks())
            .setInstanceId(engine == null ? "" : engine.instanceId())
            .setResets(engine == null ? 0 : engine.resets())
            .putAllLabels(new TreeMap<>(e.endpoint().labels()));
    return b.build();
  }

  public static io.kvgate.proto.v1.IndexMode proto(IndexMode m) {
    return switch (m) {
      case PRECISE -> io.kvgate.proto.v1.IndexMode.INDEX_MODE_PRECISE;
      case APPROXIMATE -> io.kvgate.proto.v1.IndexMode.INDEX_MODE_APPROXIMATE;
      case STALE -> io.kvgate.proto.v1.IndexMode.INDEX_MODE_STALE;
    };
  }

  private ModelRoute route(String model) {
    for (ModelRoute r : routes) if (r.name().equals(model)) return r;
    throw unknownModel(model);
  }

  private static EndpointState endpoint(ModelRoute r, String idOrUrl) {
    String url = idOrUrl.endsWith("/") ? idOrUrl.substring(0, idOrUrl.length() - 1) : idOrUrl;
    for (EndpointState e : r.endpoints()) {
      String u = e.endpoint().url().toString();
      if (u.endsWith("/")) u = u.substring(0, u.length() - 1);
      if (e.id().equals(idOrUrl) || u.equals(url)) return e;
    }
    throw OpenAiException.notFound(
        "endpoint_not_found",
        "model '" + r.name() + "' has no endpoint '" + idOrUrl + "'; see GET /admin/endpoints");
  }

  private static OpenAiException unknownModel(String model) {
    return OpenAiException.notFound(
        "model_not_found", "no model '" + model + "' is served here; see GET /admin/models");
  }
}
