package io.kvgate.sim;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.vertx.core.Handler;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.http.HttpServerResponse;
import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The bootstrap server of a {@link Role#PREFILL} engine in SGLang's P/D protocol: a second HTTP
 * listener (SGLang's {@code --disaggregation-bootstrap-port}) where decode engines find the KV of a
 * request's {@code bootstrap_room}.
 *
 * <p>When the prefill engine finishes prefilling an SGLang request it {@linkplain #register
 * registers} the room: the prompt's token count and block hashes, kept until a decode engine takes
 * it or for {@link #ROOM_TTL_NANOS} of wall time, at most {@link #MAX_ROOMS} rooms (the oldest go
 * first). The time-to-live is housekeeping, not a modelled duration, hence wall time: in simulated
 * time an engine at speed 1000 would drop a room after 60 ms, before a decode engine's poll could
 * be sure to reach it. A decode engine takes a room with {@code POST
 * /kvgate/rooms/{room}/take?wait_ms=N}: 200 with {@code {"bootstrap_room", "prompt_tokens",
 * "block_hashes"}} (the room is consumed), or, if the room is not registered within {@code N}
 * wall-clock milliseconds (a long poll, at most {@link #MAX_WAIT_MS}), 404. {@code GET /health}
 * answers 200 {@code OK}, as SGLang's does.
 *
 * <p>SGLang's own handshake is different: its bootstrap server only maps prefill ranks ({@code PUT
 * /route} from each rank, {@code GET /route} from decode engines) and the decode engine then talks
 * to the prefill rank over ZMQ, room by room. The room long poll stands in for that exchange.
 *
 * <p>Owned by the engine's event loop.
 */
final class BootstrapServer implements Handler<HttpServerRequest> {

  /** How long an untaken room is kept, in wall-clock nanoseconds (60 s). */
  static final long ROOM_TTL_NANOS = 60_000_000_000L;

  /** Rooms kept at most; registering one more drops the oldest. */
  static final int MAX_ROOMS = 10_000;

  /** Long polls parked at most; one more is answered 503 at once. */
  static final int MAX_WAITERS = 10_000;

  /** The longest long poll, in wall-clock milliseconds. */
  static final long MAX_WAIT_MS = 60_000;

  private static final String ROOMS = "/kvgate/rooms/";

  /** A prefilled prompt waiting for its decode engine. */
  record Room(long room, int promptTokens, long[] blockHashes, long expiresAtNanos) {}

  private final Vertx vertx;
  // insertion order = registration order, and every room lives as long: the head expires first
  private final LinkedHashMap<Long, Room> rooms = new LinkedHashMap<>();
  private final Map<Long, ArrayDeque<Waiter>> waiters = new HashMap<>();
  private volatile int roomCount;
  private volatile int waiterCount;

  BootstrapServer(Vertx vertx) {
    this.vertx = vertx;
  }

  /** Rooms registered and not yet taken (nor expired at the last access). */
  int rooms() {
    return roomCount;
  }

  /** Drops every registered room, as a restarted process loses them; parked polls stay. */
  void dropRooms() {
    rooms.clear();
    roomCount = 0;
  }

  /** Long polls parked now. */
  int waiters() {
    return waiterCount;
  }

  /**
   * Registers {@code room} for a prompt of {@code promptTokens} tokens with these block hashes: a
   * parked decode engine gets it at once (and consumes it), else it is kept for the next take. A
   * room registered twice keeps the newer prompt.
   */
  void register(long room, int promptTokens, long[] blockHashes) {
    long now = System.nanoTime();
    expire(now);
    Room r = new Room(room, promptTokens, blockHashes, now + ROOM_TTL_NANOS);
    ArrayDeque<Waiter> parked = waiters.get(room);
    while (parked != null && !parked.isEmpty()) {
      Waiter w = parked.poll();
      waiterCount--;
      vertx.cancelTimer(w.timer);
      if (!w.resp.closed()) {
        if (parked.isEmpty()) waiters.remove(room);
        send(w.resp, r);
        return;
      }
    }
    waiters.remove(room);
    rooms.remove(room);
    rooms.put(room, r);
    if (rooms.size() > MAX_ROOMS) {
      Iterator<Room> oldest = rooms.values().iterator();
      oldest.next();
      oldest.remove();
    }
    roomCount = rooms.size();
  }

  @Override
  public void handle(HttpServerRequest req) {
    String path = req.path();
    if (req.method() == HttpMethod.GET && path.equals("/health")) {
      req.response().putHeader("content-type", "text/plain").end("OK");
    } else if (req.method() == HttpMethod.POST
        && path.startsWith(ROOMS)
        && path.endsWith("/take")) {
      take(req, path.substring(ROOMS.length(), path.length() - "/take".length()));
    } else {
      new ApiError(
              404,
              "NotFoundError",
              null,
              "no route "
                  + req.method()
                  + " "
                  + path
                  + "; this bootstrap server serves GET /health and POST /kvgate/rooms/{room}/take")
          .send(req.response());
    }
  }

  private void take(HttpServerRequest req, String roomText) {
    long room;
    long waitMs;
    try {
      room = Long.parseLong(roomText);
      String w = req.getParam("wait_ms");
      waitMs = w == null ? 0 : Long.parseLong(w);
      if (room < 0 || waitMs < 0) throw new NumberFormatException();
    } catch (NumberFormatException e) {
      new ApiError(
              400,
              "BadRequestError",
              null,
              "the room must be an integer in [0, 2^63 - 1] and wait_ms a non-negative integer")
          .send(req.response());
      return;
    }
    expire(System.nanoTime());
    Room r = rooms.remove(room);
    roomCount = rooms.size();
    HttpServerResponse resp = req.response();
    if (r != null) {
      send(resp, r);
      return;
    }
    if (waitMs == 0) {
      notFound(resp, room);
      return;
    }
    if (waiterCount >= MAX_WAITERS) {
      new ApiError(503, "ServiceUnavailableError", null, "too many decode engines waiting")
          .send(resp);
      return;
    }
    Waiter w = new Waiter(resp);
    w.timer =
        vertx.setTimer(
            Math.min(waitMs, MAX_WAIT_MS),
            t -> {
              if (unpark(room, w)) notFound(resp, room);
            });
    resp.closeHandler(
        v -> {
          if (unpark(room, w)) vertx.cancelTimer(w.timer);
        });
    waiters.computeIfAbsent(room, k -> new ArrayDeque<>()).add(w);
    waiterCount++;
  }

  /** Removes {@code w} from the room's parked waiters: false if it was no longer parked. */
  private boolean unpark(long room, Waiter w) {
    ArrayDeque<Waiter> parked = waiters.get(room);
    if (parked == null || !parked.remove(w)) return false;
    if (parked.isEmpty()) waiters.remove(room);
    waiterCount--;
    return true;
  }

  private void expire(long now) {
    Iterator<Room> it = rooms.values().iterator();
    while (it.hasNext()) {
      if (it.next().expiresAtNanos() - now > 0) break;
      it.remove();
    }
    roomCount = rooms.size();
  }

  private static void send(HttpServerResponse resp, Room r) {
    ObjectNode o =
        CompletionResponse.JSON
            .createObjectNode()
            .put("bootstrap_room", r.room())
            .put("prompt_tokens", r.promptTokens());
    ArrayNode hashes = o.putArray("block_hashes");
    for (long h : r.blockHashes()) hashes.add(h);
    CompletionResponse.sendJson(resp, 200, o);
  }

  private static void notFound(HttpServerResponse resp, long room) {
    new ApiError(404, "NotFoundError", null, "bootstrap room " + room + " is not registered")
        .send(resp);
  }

  /** A parked long poll. */
  private static final class Waiter {
    final HttpServerResponse resp;
    long timer;

    Waiter(HttpServerResponse resp) {
      this.resp = resp;
    }
  }
}
