package io.kvgate.gateway.http;

import io.kvgate.gateway.config.GatewayConfig;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.core.net.PemKeyCertOptions;

/**
 * Serves a listener over TLS from PEM files ({@link GatewayConfig.ServerTls}), for every listener
 * of the gateway: HTTP/1.1 only (no ALPN, so no HTTP/2, as on the plain listener).
 */
public final class ListenerTls {

  private ListenerTls() {}

  /**
   * Turns TLS on in {@code options} with {@code tls}'s certificate and key, or leaves the options
   * plain HTTP when {@code tls} is null. The files are read when the server starts.
   */
  public static HttpServerOptions apply(HttpServerOptions options, GatewayConfig.ServerTls tls) {
    if (tls == null) return options;
    return options
        .setSsl(true)
        .setUseAlpn(false)
        .setKeyCertOptions(
            new PemKeyCertOptions().setCertPath(tls.certFile()).setKeyPath(tls.keyFile()));
  }
}
