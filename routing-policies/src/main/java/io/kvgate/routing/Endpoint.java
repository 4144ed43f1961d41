package io.kvgate.routing;

import java.net.URI;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * A configured inference endpoint: one engine replica serving one model.
 *
 * @param id stable identifier, used in metrics, logs, the {@code x-kvgate-endpoint} header and the
 *     prefix index; by default the URL's {@code host:port}
 * @param url base URL, e.g. {@code http://10.0.0.7:8000} (paths such as {@code /v1/...} are
 *     appended)
 * @param model the model name clients send
 * @param role aggregated, prefill-only or decode-only
 * @param labels free-form placement labels ({@code cloud}, {@code region}, {@code zone}, ...)
 * @param weight relative capacity (1.0 = a typical replica); weighted pickers and load scorers use
 *     it
 * @param adapters LoRA adapters known to be loaded on this endpoint
 */
public record Endpoint(
    String id,
    URI url,
    String model,
    Role role,
    Map<String, String> labels,
    double weight,
    Set<String> adapters) {

  public Endpoint {
    Objects.requireNonNull(id, "id");
    Objects.requireNonNull(url, "url");
    Objects.requireNonNull(model, "model");
    Objects.requireNonNull(role, "role");
    labels = Map.copyOf(labels);
    adapters = Set.copyOf(adapters);
    if (!(weight > 0)) throw new IllegalArgumentException("weight must be > 0");
  }

  /** An aggregated endpoint with no labels, weight 1 and no adapters. */
  public static Endpoint of(String model, URI url) {
    return new Endpoint(defaultId(url), url, model, Role.BOTH, Map.of(), 1.0, Set.of());
  }

  /** {@code host:port} of the URL (port defaulted from the scheme). */
  public static String defaultId(URI url) {
    int port = url.getPort();
    if (port < 0) port = "https".equals(url.getScheme()) ? 443 : 80;
    return url.getHost() + ":" + port;
  }

  public String label(String key) {
    return labels.get(key);
  }
}
