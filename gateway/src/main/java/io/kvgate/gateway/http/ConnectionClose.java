package io.kvgate.gateway.http;

import io.vertx.core.http.HttpConnection;

/**
 * Runs code when a client connection closes, alongside whatever {@link HttpConnection#closeHandler}
 * is set: Vert.x keeps one close handler per connection, and the request path sets its own (a
 * lingering close), which would silently replace a counter's.
 */
final class ConnectionClose {

  private ConnectionClose() {}

  static void onClose(HttpConnection c, Runnable action) {
    if (c instanceof io.vertx.core.http.impl.HttpServerConnection sc) {
      sc.channelHandlerContext().channel().closeFuture().addListener(f -> action.run());
    } else {
      c.closeHandler(v -> action.run());
    }
  }
}
