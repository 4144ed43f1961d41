package io.kvgate.gateway.fleet;

import io.kvgate.gateway.config.GatewayConfig;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.RequestOptions;
import io.vertx.core.net.ClientSSLOptions;
import io.vertx.core.net.PemTrustOptions;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

/**
 * Where requests to one endpoint go: scheme, host, port, base path and, for https, how its
 * certificate is trusted. The one place that turns an endpoint URL into request options; the proxy,
 * the health checks, the metrics scrape and model discovery all ask it, so an https endpoint is
 * reached the same way by each of them.
 *
 * <p>Built once per endpoint at start-up (reading the CA file, if any, there and then), immutable
 * and cheap to use from any event loop.
 */
public final class EndpointTarget {

  private final String host;
  private final int port;
  private final boolean ssl;
  private final String basePath;
  private final ClientSSLOptions sslOptions;

  /**
   * {@code Bearer <key>} for an engine started with an API key (vLLM {@code --api-key}), or null.
   */
  private final String authorization;

  /**
   * {@link #sslOptions} per handshake timeout (one per caller: proxy, checks, scrape, discovery).
   */
  private final Map<Long, ClientSSLOptions> handshakeBounded = new ConcurrentHashMap<>();

  private EndpointTarget(
      String host,
      int port,
      boolean ssl,
      String basePath,
      ClientSSLOptions sslOptions,
      String authorization) {
    this.authorization = authorization;
    this.host = host;
    this.port = port;
    this.ssl = ssl;
    this.basePath = basePath;
    this.sslOptions = sslOptions;
  }

  /**
   * The target of an endpoint URL ({@code http} or {@code https}, port defaulted from the scheme,
   * the path kept as a prefix of every request path).
   *
   * @param tls trust settings, used when the URL is https
   * @throws UncheckedIOException if the CA file cannot be read
   */
  public static EndpointTarget of(URI url, GatewayConfig.UpstreamTls tls) {
    return of(url, tls, null);
  }

  /**
   * As {@link #of(URI, GatewayConfig.UpstreamTls)}; {@code apiKey} (or null) is sent as {@code
   * Authorization: Bearer} on every request to the endpoint, in place of any client credential.
   */
  public static EndpointTarget of(URI url, GatewayConfig.UpstreamTls tls, String apiKey) {
    boolean ssl = "https".equals(url.getScheme());
    int port = url.getPort() > 0 ? url.getPort() : ssl ? 443 : 80;
    String path = url.getRawPath();
    String base = path == null || path.equals("/") ? "" : path.replaceAll("/+$", "");
    ClientSSLOptions options = null;
    if (ssl) {
      options =
          new ClientSSLOptions()
              .setTrustAll(tls.trustAll())
              .setHostnameVerificationAlgorithm(
                  tls.verifyHostname() && !tls.trustAll() ? "HTTPS" : "");
      if (tls.caFile() != null && !tls.trustAll()) {
        try {
          options.setTrustOptions(
              new PemTrustOptions()
                  .addCertValue(Buffer.buffer(Files.readAllBytes(Path.of(tls.caFile())))));
        } catch (IOException e) {
          throw new UncheckedIOException("cannot read CA file " + tls.caFile(), e);
        }
      }
    }
    return new EndpointTarget(
        url.getHost(), port, ssl, base, options, apiKey == null ? null : "Bearer " + apiKey);
  }

  /**
   * Options for a request of {@code pathAndQuery} (starting with '/') under the base path, whose
   * connection (TCP connect and, for https, the TLS handshake) must be up within {@code
   * connectTimeout}.
   */
  public RequestOptions request(HttpMethod method, String pathAndQuery, Duration connectTimeout) {
    RequestOptions o =
        new RequestOptions()
            .setMethod(method)
            .setHost(host)
            .setPort(port)
            .setSsl(ssl)
            .setURI(basePath + pathAndQuery)
            .setConnectTimeout(connectTimeout.toMillis());
    if (authorization != null) o.putHeader("authorization", authorization);
    if (sslOptions != null) {
      o.setSslOptions(
          handshakeBounded.computeIfAbsent(
              connectTimeout.toMillis(),
              ms ->
                  new ClientSSLOptions(sslOptions)
                      .setSslHandshakeTimeout(ms)
                      .setSslHandshakeTimeoutUnit(TimeUnit.MILLISECONDS)));
    }
    return o;
  }

  /** The endpoint's host, as in its URL. */
  public String host() {
    return host;
  }

  public boolean ssl() {
    return ssl;
  }

  /** The key is never printed. */
  @Override
  public String toString() {
    return (ssl ? "https://" : "http://") + host + ":" + port + basePath;
  }
}
