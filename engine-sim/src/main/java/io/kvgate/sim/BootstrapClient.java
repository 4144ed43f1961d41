package io.kvgate.sim;

import com.fasterxml.jackson.databind.JsonNode;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpClient;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpClientRequest;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.PoolOptions;
import io.vertx.core.http.RequestOptions;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.Set;

/**
 * How a {@link Role#DECODE} engine takes a bootstrap room from a prefill engine's {@link
 * BootstrapServer}: long polls of at most {@link #POLL_MS} each until the room comes or the wait's
 * deadline passes, over real HTTP (the prefill engine may be another process). A poll the server
 * held for its whole wait and answered 404 is followed by the next at once; any other answer (an
 * early 404 from something that is not a bootstrap server, a 503) by the next after a backoff (50
 * ms doubling to 1 s), so nothing loops busily; a connection that cannot be made, or a poll the
 * server leaves unanswered, ends the wait without a room.
 *
 * <p>Owned by the engine's event loop.
 */
final class BootstrapClient {

  /** The longest single long poll, in wall-clock milliseconds. */
  static final long POLL_MS = 10_000;

  private static final long CONNECT_TIMEOUT_MS = 5_000;
  private static final long FIRST_BACKOFF_MS = 50;
  private static final long MAX_BACKOFF_MS = 1_000;

  /** A room as the prefill engine registered it. */
  record Room(int promptTokens, long[] blockHashes) {}

  private final Vertx vertx;
  private final HttpClient client;
  private final Set<Wait> pending = new HashSet<>();

  BootstrapClient(Vertx vertx) {
    this.vertx = vertx;
    this.client =
        vertx.createHttpClient(
            new HttpClientOptions().setKeepAlive(true),
            new PoolOptions().setHttp1MaxSize(4096).setMaxWaitQueueSize(-1));
  }

  /**
   * Starts waiting for {@code room} at {@code host:port} for at most {@code timeoutNanos} of wall
   * time. A null host or port (SGLang allows {@code bootstrap_port: null}) ends the wait at once.
   */
  Wait take(String host, Integer port, long room, long timeoutNanos) {
    Wait w = new Wait(host, port, room, System.nanoTime() + timeoutNanos);
    if (host == null || port == null) {
      w.finish(null);
    } else {
      pending.add(w);
      w.poll();
    }
    return w;
  }

  /** Cancels every wait (their futures complete with null) and closes the client. */
  Future<Void> close() {
    for (Wait w : new ArrayList<>(pending)) w.cancel();
    return client.close();
  }

  /** One decode request's wait for its room. */
  final class Wait {
    private final String host;
    private final Integer port;
    private final long room;
    private final long deadlineNanos;
    private final Promise<Room> result = Promise.promise();
    private HttpClientRequest current;
    private long backoffTimer = -1;
    private long backoffMs = FIRST_BACKOFF_MS;
    private boolean cancelled;

    private Wait(String host, Integer port, long room, long deadlineNanos) {
      this.host = host;
      this.port = port;
      this.room = room;
      this.deadlineNanos = deadlineNanos;
    }

    /**
     * Completes with the room, or with null if it did not come in time, the bootstrap server could
     * not be reached, or the wait was cancelled. Never fails.
     */
    Future<Room> future() {
      return result.future();
    }

    boolean cancelled() {
      return cancelled;
    }

    /** Stops waiting: the poll in flight is reset and the future completes with null. */
    void cancel() {
      if (result.future().isComplete()) return;
      cancelled = true;
      if (backoffTimer >= 0) vertx.cancelTimer(backoffTimer);
      if (current != null) current.reset();
      finish(null);
    }

    private void finish(Room r) {
      pending.remove(this);
      result.tryComplete(r);
    }

    private void poll() {
      if (cancelled) return;
      long remainingMs = (deadlineNanos - System.nanoTime()) / 1_000_000;
      if (remainingMs <= 0) {
        finish(null);
        return;
      }
      long waitMs = Math.min(remainingMs, POLL_MS);
      long started = System.nanoTime();
      client
          .request(
              new RequestOptions()
                  .setMethod(HttpMethod.POST)
                  .setHost(host)
                  .setPort(port)
                  .setURI("/kvgate/rooms/" + room + "/take?wait_ms=" + waitMs)
                  .setConnectTimeout(CONNECT_TIMEOUT_MS)
                  .setIdleTimeout(waitMs + CONNECT_TIMEOUT_MS))
          .compose(
              req -> {
                current = req;
                if (cancelled) req.reset();
                return req.send();
              })
          .compose(resp -> resp.body().map(body -> new Answer(resp.statusCode(), body.getBytes())))
          .onComplete(
              ar -> {
                current = null;
                if (cancelled) return;
                if (ar.failed()) {
                  finish(null); // unreachable, or it left the poll unanswered
                } else if (ar.result().status() == 200) {
                  finish(ar.result().room());
                } else if (ar.result().status() == 404
                    && System.nanoTime() - started >= waitMs * 1_000_000) {
                  poll(); // the server held the poll for its whole wait: no busy loop
                } else {
                  long delay = Math.min(backoffMs, Math.max(1, remainingMs()));
                  backoffMs = Math.min(backoffMs * 2, MAX_BACKOFF_MS);
                  backoffTimer =
                      vertx.setTimer(
                          delay,
                          t -> {
                            backoffTimer = -1;
                            poll();
                          });
                }
              });
    }

    private long remainingMs() {
      return (deadlineNanos - System.nanoTime()) / 1_000_000;
    }
  }

  /** A bootstrap server's answer. */
  private record Answer(int status, byte[] body) {
    Room room() {
      try {
        JsonNode o = CompletionResponse.JSON.readTree(body);
        JsonNode hashes = o.get("block_hashes");
        long[] h = new long[hashes.size()];
        for (int i = 0; i < h.length; i++) h[i] = hashes.get(i).asLong();
        return new Room(o.get("prompt_tokens").asInt(), h);
      } catch (Exception e) {
        return null; // not a room: treated as no room
      }
    }
  }
}
