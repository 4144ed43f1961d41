package io.kvgate.gateway.batch;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.kvgate.gateway.auth.ApiKey;
import io.kvgate.gateway.config.GatewayConfig;
import io.kvgate.gateway.fleet.ModelRoute;
import io.kvgate.gateway.openai.OpenAiException;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpClient;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpClientRequest;
import io.vertx.core.http.HttpClientResponse;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.PoolOptions;
import io.vertx.core.http.RequestOptions;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.function.Function;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * The batch lane: runs the lines of OpenAI batches on the capacity interactive traffic leaves idle.
 *
 * <p>A batch's input file is validated ({@link InputValidator}), its lines recorded in the store
 * ({@link BatchStore}) in dispatch order (lines sharing a prompt head together) and then sent, a
 * few at a time, through the gateway's own request path: the same routing, limits and proxy as any
 * request, among the endpoints under the watermark only ({@link BatchGate}). A line no endpoint can
 * take now is deferred and tried again on the next tick. A line an interactive request preempts
 * (cancelled before its first token) goes back to the head of the queue. A line that fails on the
 * way (the gateway or an engine unreachable, 429, 5xx) is tried again up to {@value #MAX_ATTEMPTS}
 * times; any other answer, success or error, is the line's record.
 *
 * <p>Every line ends once: its record is committed with the line's state in one statement that
 * applies only to a pending line, in group commits. A line sent and not recorded when the gateway
 * dies is pending in the store and runs again at the next start; a record is never written twice.
 * At {@code completion_window}'s end, or on cancel, the lines not done get {@code batch_expired} or
 * {@code batch_cancelled} error records, and the batch ends with its output and error files.
 *
 * <p>All state lives on one Vert.x context; the store is used from one thread of its own.
 */
public final class BatchLane {

  private static final Logger LOG = Logger.getLogger(BatchLane.class.getName());
  private static final ObjectMapper JSON = new ObjectMapper();

  /** Tries per line before an unreachable gateway or engine, 429 or 5xx is its record. */
  static final int MAX_ATTEMPTS = 3;

  /** How often expiry is checked and deferred lines are tried again. */
  static final long TICK_MILLIS = 25;

  /** Lines read ahead from a batch's input file. */
  private static final int PREFETCH = 64;

  /** The largest SSE event a streamed batch answer may carry. */
  private static final int MAX_EVENT_BYTES = 16 * 1024 * 1024;

  /** The endpoints a batch may name. */
  static final List<String> ENDPOINTS =
      List.of("/v1/chat/completions", "/v1/completions", "/v1/embeddings");

  private final Vertx vertx;
  private final GatewayConfig.Batch config;
  private final Context ctx;
  private final ExecutorService storeThread;
  private final BatchGate gate;
  private final Function<String, ModelRoute> routes;
  private final List<ModelRoute> allRoutes;
  private final Function<String, ApiKey> keys;
  private BatchStore store;
  private BatchFiles files;
  private HttpClient loopback;
  private String host;
  private int port;
  private long timer = -1;
  private long sweepTimer = -1;
  private boolean paused;

  /** The cluster's copy of the lane's state, or null when the gateway is not clustered. */
  private volatile BatchReplica replica;

  private volatile boolean closed;

  private final Map<String, Active> active = new LinkedHashMap<>();
  private final Map<String, Validating> validating = new HashMap<>();
  private final ArrayDeque<End> commits = new ArrayDeque<>();
  private boolean committing;
  private int inFlight;
  private volatile int queuedGauge;

  private final Counter completed;
  private final Counter failed;
  private final Counter expired;
  private final Counter cancelled;
  private final Counter preemptions;
  private final Counter deferrals;
  private final Counter retries;

  private BatchLane(
      Vertx vertx,
      GatewayConfig.Batch config,
      List<ModelRoute> routes,
      Function<String, ApiKey> keys,
      MeterRegistry registry) {
    this.vertx = vertx;
    this.config = config;
    this.ctx = vertx.getOrCreateContext();
    this.storeThread =
        Executors.newSingleThreadExecutor(
            r -> {
              Thread t = new Thread(r, "kvgate-batch-store");
              t.setDaemon(true);
              return t;
            });
    this.gate = new BatchGate(config.watermark(), config.preemption());
    this.allRoutes = List.copyOf(routes);
    Map<String, ModelRoute> byName = new HashMap<>();
    for (ModelRoute r : routes) {
      byName.put(r.name(), r);
      for (String a : r.adapters()) byName.putIfAbsent(a, r);
    }
    this.routes = byName::get;
    this.keys = keys;
    String lines = "kvgate_batch_lines_finished_total";
    String help = "Batch lines ended, by outcome";
    completed =
        Counter.builder(lines).description(help).tag("outcome", "completed").register(registry);
    failed = Counter.builder(lines).description(help).tag("outcome", "failed").register(registry);
    expired = Counter.builder(lines).description(help).tag("outcome", "expired").register(registry);
    cancelled =
        Counter.builder(lines).description(help).tag("outcome", "cancelled").register(registry);
    preemptions =
        Counter.builder("kvgate_batch_preemptions_total")
            .description(
                "Batch lines cancelled before their first token for an interactive request")
            .register(registry);
    deferrals =
        Counter.builder("kvgate_batch_deferred_total")
            .description("Batch lines that found no endpoint under the watermark and waited")
            .register(registry);
    retries =
        Counter.builder("kvgate_batch_retries_total")
            .description("Batch lines sent again after an unreachable endpoint, a 429 or a 5xx")
            .register(registry);
    Gauge.builder("kvgate_batch_lines", () -> queuedGauge)
        .description("Batch lines by state: queued (waiting to be sent) or running (in flight)")
        .tag("state", "queued")
        .register(registry);
    Gauge.builder("kvgate_batch_lines", gate::running)
        .description("Batch lines by state: queued (waiting to be sent) or running (in flight)")
        .tag("state", "running")
        .register(registry);
    Gauge.builder("kvgate_batch_idle_slots_used_ratio", this::idleSlotsUsed)
        .description(
            "Batch lines in flight over the slots interactive traffic leaves free under the"
                + " watermark (running and free batch slots)")
        .register(registry);
  }

  /**
   * Opens the lane's store under {@code config.dataDir()} and resumes the batches a previous run
   * left unfinished. Its lines are sent once {@link #start} gives it the API listener.
   */
  public static Future<BatchLane> open(
      Vertx vertx,
      GatewayConfig.Batch config,
      List<ModelRoute> routes,
      Function<String, ApiKey> keys,
      MeterRegistry registry) {
    BatchLane lane = new BatchLane(vertx, config, routes, keys, registry);
    return lane.db(
            () -> {
              lane.store = new BatchStore(config.dataDir());
              lane.files = new BatchFiles(config.dataDir());
              lane.files.removeTemporaries();
              return lane.store.unfinished();
            })
        .compose(
            rows -> {
              // Resumed before the lane starts, so that start() fences every one of them.
              List<Future<Void>> resumed = new ArrayList<>();
              for (BatchStore.BatchRow r : rows) resumed.add(lane.resume(r));
              return Future.join(resumed).map(lane);
            })
        .recover(
            e -> {
              lane.storeThread.shutdownNow();
              return Future.failedFuture(
                  new IOException(
                      "the batch lane could not open its data directory "
                          + config.dataDir().toAbsolutePath()
                          + ": "
                          + e.getMessage(),
                      e));
            });
  }

  /** The gate the request path consults. */
  public BatchGate gate() {
    return gate;
  }

  BatchFiles files() {
    return files;
  }

  GatewayConfig.Batch config() {
    return config;
  }

  Vertx vertx() {
    return vertx;
  }

  /** How often a clustered lane looks for cancels from peers and batches without a runner. */
  static final long SWEEP_MILLIS = 1000;

  /**
   * Starts sending lines, to the gateway's API listener at {@code host:port}; in a cluster ({@code
   * hz} not null), shares the lane's state through it, first giving up the batches resumed from the
   * store that another gateway adopted meanwhile.
   */
  public void start(
      String listenerHost, int listenerPort, boolean tls, com.hazelcast.core.HazelcastInstance hz) {
    if (hz == null) {
      connect(listenerHost, listenerPort, tls);
      return;
    }
    ctx.runOnContext(
        v -> {
          List<Object[]> mine = new ArrayList<>();
          for (Active b : active.values()) mine.add(new Object[] {b.id, b.owner, b.render()});
          for (Map.Entry<String, Validating> e : validating.entrySet()) {
            Validating val = e.getValue();
            mine.add(new Object[] {e.getKey(), val.owner, val.object.copy()});
          }
          db(() -> {
                BatchReplica r = new BatchReplica(hz);
                replica = r;
                List<String> given = new ArrayList<>();
                for (Object[] m : mine) {
                  String id = (String) m[0];
                  BatchReplica.Shared shared = r.batch(id);
                  if (shared == null) r.putBatch(id, (String) m[1], r.self(), (JsonObject) m[2]);
                  else if (!shared.runner().equals(r.self())
                      && (r.live().contains(shared.runner()) || r.claim(shared) == null)) {
                    given.add(id);
                  }
                }
                return given;
              })
              .onComplete(
                  ar -> {
                    if (ar.succeeded()) {
                      for (String id : ar.result()) handOver(id);
                    } else {
                      LOG.log(Level.SEVERE, "batch lane: cluster state not reachable", ar.cause());
                    }
                    sweepTimer = vertx.setPeriodic(SWEEP_MILLIS, t -> sweep());
                    connect(listenerHost, listenerPort, tls);
                  });
        });
  }

  private void connect(String listenerHost, int listenerPort, boolean tls) {
    ctx.runOnContext(
        v -> {
          host =
              listenerHost.equals("0.0.0.0") || listenerHost.equals("::")
                  ? "127.0.0.1"
                  : listenerHost;
          port = listenerPort;
          HttpClientOptions o =
              new HttpClientOptions()
                  .setKeepAlive(true)
                  .setTcpNoDelay(true)
                  // No timeout on a line in flight (the proxy's timeouts bound it); an unused
                  // pooled connection is closed well before the listener's idle timeout would.
                  .setIdleTimeout(0)
                  .setKeepAliveTimeout(30)
                  .setSsl(tls)
                  .setTrustAll(tls)
                  .setVerifyHost(false);
          loopback =
              vertx.createHttpClient(o, new PoolOptions().setHttp1MaxSize(config.maxInFlight()));
          timer = vertx.setPeriodic(TICK_MILLIS, t -> tick());
          pump();
        });
  }

  /**
   * Stops sending (a drain, a shutdown): lines in flight are cancelled and stay pending in the
   * store, to run at the next start (or, in a cluster, wherever the batch is resumed).
   */
  public Future<Void> pause() {
    return runOnLane(
        () -> {
          paused = true;
          for (Active b : active.values()) {
            for (Line l : new ArrayList<>(b.flying.values())) {
              l.abandoned = true;
              if (l.req != null) l.req.reset();
            }
          }
          return null;
        });
  }

  /** Stops the lane and closes its store. */
  public Future<Void> close() {
    Promise<Void> done = Promise.promise();
    ctx.runOnContext(
        v -> {
          closed = true;
          paused = true;
          if (timer >= 0) vertx.cancelTimer(timer);
          if (sweepTimer >= 0) vertx.cancelTimer(sweepTimer);
          for (Active b : active.values()) {
            for (Line l : new ArrayList<>(b.flying.values())) {
              l.abandoned = true;
              if (l.req != null) l.req.reset();
            }
            // A read under way closes the file itself when it ends.
            if (b.reading == 0) closeQuietly(b);
          }
          Future<Void> client = loopback == null ? Future.succeededFuture() : loopback.close();
          client.onComplete(
              c ->
                  storeThread.execute(
                      () -> {
                        try {
                          if (store != null) store.close();
                        } catch (Exception e) {
                          LOG.log(Level.WARNING, "batch store close", e);
                        }
                        storeThread.shutdown();
                        done.complete();
                      }));
        });
    return done.future();
  }

  // ---------------------------------------------------------------------------------- the API

  /** A file's OpenAI object, if {@code owner} owns it. */
  Future<BatchStore.FileRow> file(String owner, String id) {
    if (!BatchFiles.validId(id)) return Future.failedFuture(noSuchFile(id));
    return db(() -> {
          BatchStore.FileRow f = store.file(id);
          BatchReplica r = replica;
          if (f != null || r == null) return f;
          // Uploaded through another gateway: fetched from the cluster once.
          BatchStore.FileRow shared = r.file(id);
          if (shared == null) return null;
          Path tmp = files.temp(id);
          r.readFile(id, tmp);
          files.commit(tmp, id);
          store.putFile(shared);
          return shared;
        })
        .compose(
            f ->
                f == null || !f.owner().equals(owner)
                    ? Future.failedFuture(noSuchFile(id))
                    : Future.succeededFuture(f));
  }

  Future<List<BatchStore.FileRow>> files(
      String owner, String purpose, String after, int limit, boolean ascending) {
    return db(
        () -> {
          BatchReplica r = replica;
          if (r == null) return store.files(owner, purpose, after, limit, ascending);
          java.util.Comparator<BatchStore.FileRow> order =
              java.util.Comparator.comparingLong(BatchStore.FileRow::createdAt)
                  .thenComparing(BatchStore.FileRow::id);
          if (!ascending) order = order.reversed();
          List<BatchStore.FileRow> all = new ArrayList<>(r.files(owner));
          if (purpose != null) all.removeIf(f -> !f.purpose().equals(purpose));
          all.sort(order);
          return page(all, BatchStore.FileRow::id, after, limit);
        });
  }

  /** Registers an uploaded file, already committed to disk under {@code row.id()}. */
  Future<BatchStore.FileRow> addFile(BatchStore.FileRow row) {
    return db(
        () -> {
          BatchReplica r = replica;
          if (r != null) {
            // In the cluster first: a file another gateway could not read is not accepted.
            try {
              r.putFile(row, files.path(row.id()));
            } catch (Exception e) {
              files.delete(row.id());
              throw new IOException("the file could not be shared with the cluster", e);
            }
          }
          store.putFile(row);
          return row;
        });
  }

  /** Deletes a file; its bytes stay on disk while an unfinished batch reads them. */
  Future<Void> deleteFile(String owner, String id) {
    return file(owner, id)
        .compose(
            f ->
                runOnLane(
                    () -> {
                      boolean inUse = false;
                      for (Active b : active.values()) inUse |= b.inputFileId.equals(id);
                      for (Validating v : validating.values()) inUse |= v.inputFileId.equals(id);
                      return inUse;
                    }))
        .compose(
            inUse ->
                db(
                    () -> {
                      store.deleteFile(id);
                      BatchReplica r = replica;
                      if (r != null) replicate(null, "delete of " + id, () -> r.deleteFile(id));
                      if (!inUse) files.delete(id);
                      return null;
                    }));
  }

  /**
   * Creates a batch: answered at once in status {@code validating}, validated in the background.
   */
  Future<JsonObject> create(
      ApiKey key, String inputFileId, String endpoint, long windowSeconds, JsonObject metadata) {
    String owner = key.name();
    return file(owner, inputFileId)
        .compose(
            f -> {
              if (!f.purpose().equals("batch")) {
                return Future.failedFuture(
                    OpenAiException.badRequest(
                        "input_file_id",
                        "The file "
                            + inputFileId
                            + " has purpose '"
                            + f.purpose()
                            + "': a batch reads a file uploaded with purpose 'batch'."));
              }
              long now = System.currentTimeMillis() / 1000;
              String id = BatchFiles.newId("batch_");
              JsonObject obj =
                  new JsonObject()
                      .put("id", id)
                      .put("object", "batch")
                      .put("endpoint", endpoint)
                      .putNull("errors")
                      .put("input_file_id", inputFileId)
                      .put("completion_window", windowText(windowSeconds))
                      .put("status", "validating")
                      .putNull("output_file_id")
                      .putNull("error_file_id")
                      .put("created_at", now)
                      .putNull("in_progress_at")
                      .put("expires_at", now + windowSeconds)
                      .putNull("finalizing_at")
                      .putNull("completed_at")
                      .putNull("failed_at")
                      .putNull("expired_at")
                      .putNull("cancelling_at")
                      .putNull("cancelled_at")
                      .put("request_counts", counts(0, 0, 0))
                      .put("metadata", metadata);
              String text = obj.encode();
              return db(() -> {
                    store.insertBatch(id, owner, "validating", text);
                    share(id, owner, obj);
                    return null;
                  })
                  .compose(
                      v ->
                          runOnLane(
                              () -> {
                                startValidation(id, owner, obj.copy());
                                return obj;
                              }));
            });
  }

  /** A batch's OpenAI object, with its live counts while it runs. */
  Future<JsonObject> batch(String owner, String id) {
    if (!BatchFiles.validId(id)) return Future.failedFuture(noSuchBatch(id));
    return runOnLane(() -> live(id))
        .compose(
            live -> {
              if (live != null) {
                return live.owner.equals(owner)
                    ? Future.succeededFuture(live.object)
                    : Future.failedFuture(noSuchBatch(id));
              }
              return db(() -> {
                    BatchReplica rep = replica;
                    if (rep != null) {
                      BatchReplica.Shared s = rep.batch(id);
                      if (s != null) return new Live(s.owner(), s.object());
                    }
                    BatchStore.BatchRow r = store.batch(id);
                    return r == null ? null : new Live(r.owner(), new JsonObject(r.object()));
                  })
                  .compose(
                      l ->
                          l == null || !l.owner().equals(owner)
                              ? Future.failedFuture(noSuchBatch(id))
                              : Future.succeededFuture(l.object()));
            });
  }

  /** The owner's batches, newest first, with live counts; one more than asked tells has_more. */
  Future<List<JsonObject>> batches(String owner, String after, int limit) {
    return db(() -> {
          BatchReplica rep = replica;
          if (rep == null) {
            List<JsonObject> out = new ArrayList<>();
            for (BatchStore.BatchRow r : store.batches(owner, after, limit + 1))
              out.add(new JsonObject(r.object()));
            return out;
          }
          List<JsonObject> all = new ArrayList<>();
          for (BatchReplica.Shared s : rep.batches(owner)) all.add(s.object());
          all.sort(
              java.util.Comparator.<JsonObject>comparingLong(o -> o.getLong("created_at"))
                  .thenComparing(o -> o.getString("id"))
                  .reversed());
          return page(all, o -> o.getString("id"), after, limit + 1);
        })
        .compose(
            rows ->
                runOnLane(
                    () -> {
                      List<JsonObject> out = new ArrayList<>();
                      for (JsonObject o : rows) {
                        Live l = live(o.getString("id"));
                        out.add(l != null ? l.object : o);
                      }
                      return out;
                    }));
  }

  /** The items after {@code after} (all when null or not found), at most {@code limit}. */
  private static <T> List<T> page(List<T> sorted, Function<T, String> id, String after, int limit) {
    int from = 0;
    if (after != null) {
      for (int i = 0; i < sorted.size(); i++) {
        if (id.apply(sorted.get(i)).equals(after)) {
          from = i + 1;
          break;
        }
      }
    }
    return new ArrayList<>(sorted.subList(from, Math.min(sorted.size(), from + limit)));
  }

  /** Cancels a batch: {@code cancelling} now, {@code cancelled} once its lines in flight end. */
  Future<JsonObject> cancel(String owner, String id) {
    boolean[] remote = new boolean[1];
    return batch(owner, id)
        .compose(
            obj ->
                runOnLane(
                    () -> {
                      Active b = active.get(id);
                      if (b != null && b.ending == null && !b.finalizing) {
                        end(b, "cancelled");
                        return b.render();
                      }
                      Validating v = validating.get(id);
                      if (v != null) {
                        v.cancel = true;
                        v.object.put("status", "cancelling");
                        v.object.put("cancelling_at", System.currentTimeMillis() / 1000);
                        return v.object.copy();
                      }
                      String status = (b != null ? b.render() : obj).getString("status");
                      if (status.equals("cancelling")) return b != null ? b.render() : obj;
                      if (replica != null
                          && (status.equals("in_progress") || status.equals("validating"))) {
                        // Running on another gateway: the cancel is written to the cluster, and
                        // the runner ends the batch at its next sweep.
                        JsonObject c =
                            obj.copy()
                                .put("status", "cancelling")
                                .put("cancelling_at", System.currentTimeMillis() / 1000);
                        remote[0] = true;
                        return c;
                      }
                      throw new OpenAiException(
                          409,
                          "invalid_request_error",
                          null,
                          "batch_not_cancellable",
                          "Cannot cancel a batch with status '" + status + "'.");
                    }))
        .compose(c -> remote[0] ? requestCancel(id).map(c) : Future.succeededFuture(c));
  }

  private record Live(String owner, JsonObject object) {}

  private Live live(String id) {
    Active b = active.get(id);
    if (b != null) return new Live(b.owner, b.render());
    Validating v = validating.get(id);
    return v == null ? null : new Live(v.owner, v.object.copy());
  }

  // ------------------------------------------------------------------------ validation, resume

  private static final class Validating {
    final String owner;
    final String inputFileId;
    final JsonObject object;
    boolean cancel;

    Validating(String owner, String inputFileId, JsonObject object) {
      this.owner = owner;
      this.inputFileId = inputFileId;
      this.object = object;
    }
  }

  private void startValidation(String id, String owner, JsonObject obj) {
    String inputFileId = obj.getString("input_file_id");
    String endpoint = obj.getString("endpoint");
    Validating v = new Validating(owner, inputFileId, obj);
    validating.put(id, v);
    Path input = files.path(inputFileId);
    vertx
        .executeBlocking(
            () -> InputValidator.validate(input, endpoint, config.maxLinesPerFile()), false)
        .onComplete(
            ar -> {
              // Handed over to another gateway meanwhile, or the lane closed: not this run's.
              if (closed || validating.get(id) != v) return;
              long now = System.currentTimeMillis() / 1000;
              JsonArray errors;
              InputValidator.Result result = ar.succeeded() ? ar.result() : null;
              if (result == null) {
                errors =
                    new JsonArray()
                        .add(
                            problem(
                                "file_unreadable",
                                "The input file could not be read: " + ar.cause().getMessage(),
                                "input_file_id"));
              } else if (result.failed()) {
                errors = result.errors();
              } else {
                errors = modelProblems(owner, result.model());
              }
              if (!errors.isEmpty()) {
                validating.remove(id);
                v.object
                    .put("status", "failed")
                    .put("failed_at", now)
                    .put("errors", new JsonObject().put("object", "list").put("data", errors));
                String text = v.object.encode();
                db(
                    () -> {
                      store.updateBatch(id, "failed", text);
                      share(id, owner, new JsonObject(text));
                      return null;
                    });
                return;
              }
              v.object
                  .put("model", result.model())
                  .put("status", "in_progress")
                  .put("in_progress_at", now)
                  .put("request_counts", counts(result.lines().size(), 0, 0));
              String text = v.object.encode();
              List<BatchStore.LineRow> lines = result.lines();
              db(() -> {
                    store.putLines(id, lines, "in_progress", text);
                    return share(id, owner, new JsonObject(text));
                  })
                  .onComplete(
                      stored -> {
                        if (validating.get(id) != v) return;
                        validating.remove(id);
                        if (stored.failed()) {
                          // Still validating in the store: validated again at the next start.
                          LOG.log(
                              Level.SEVERE, "batch " + id + ": lines not stored", stored.cause());
                          return;
                        }
                        if (!stored.result()) {
                          handOver(id);
                          return;
                        }
                        List<Integer> order = new ArrayList<>(lines.size());
                        lines.stream()
                            .sorted(java.util.Comparator.comparingInt(BatchStore.LineRow::ord))
                            .forEach(l -> order.add(l.idx()));
                        Active b = activate(id, owner, v.object, lines, order, 0, 0, null);
                        if (v.cancel) end(b, "cancelled");
                      });
            });
  }

  private JsonArray modelProblems(String owner, String model) {
    JsonArray errors = new JsonArray();
    ApiKey key = keys.apply(owner);
    if (routes.apply(model) == null || key == null || !key.allows(model)) {
      errors.add(
          problem(
                  "model_not_found",
                  "The model '"
                      + model
                      + "' does not exist or is not served here; see GET /v1/models.",
                  "body.model")
              .putNull("line"));
    }
    return errors;
  }

  private static JsonObject problem(String code, String message, String param) {
    return new JsonObject()
        .put("code", code)
        .put("message", message)
        .put("param", param)
        .putNull("line");
  }

  /**
   * Picks up a batch a previous run left unfinished, ending it as it was ending: a batch stored as
   * {@code cancelling} ends cancelled, one stored as {@code expiring} ends expired.
   */
  private Future<Void> resume(BatchStore.BatchRow r) {
    JsonObject obj = new JsonObject(r.object());
    if (r.status().equals("validating")) {
      startValidation(r.id(), r.owner(), obj);
      return Future.succeededFuture();
    }
    String ending =
        switch (r.status()) {
          case "cancelling" -> "cancelled";
          case "expiring" -> "expired";
          default -> null;
        };
    return db(() -> new Object[] {store.lines(r.id()), store.pending(r.id()), store.counts(r.id())})
        .onSuccess(
            o -> {
              @SuppressWarnings("unchecked")
              List<BatchStore.LineRow> lines = (List<BatchStore.LineRow>) o[0];
              @SuppressWarnings("unchecked")
              List<Integer> pending = (List<Integer>) o[1];
              long[] c = (long[]) o[2];
              List<BatchStore.LineRow> byIdx = new ArrayList<>(lines);
              byIdx.sort(java.util.Comparator.comparingInt(BatchStore.LineRow::idx));
              activate(
                  r.id(),
                  r.owner(),
                  obj,
                  byIdx,
                  pending,
                  c[BatchStore.OK],
                  c[BatchStore.ERROR],
                  ending);
            })
        .<Void>mapEmpty()
        .recover(
            e -> {
              LOG.log(Level.SEVERE, "batch " + r.id() + " could not be resumed", e);
              return Future.succeededFuture();
            });
  }

  private Active activate(
      String id,
      String owner,
      JsonObject obj,
      List<BatchStore.LineRow> linesByIdx,
      List<Integer> pendingInOrder,
      long done,
      long errors,
      String ending) {
    Active b = new Active(id, owner, obj, linesByIdx.size());
    for (BatchStore.LineRow l : linesByIdx) {
      b.customIds[l.idx()] = l.customId();
      b.offsets[l.idx()] = l.offset();
      b.lengths[l.idx()] = l.length();
    }
    // A batch resumed while it was ending sends nothing: its pending lines get their records.
    b.ending = ending;
    if (ending == null) b.queue.addAll(pendingInOrder);
    b.completed = done;
    b.failed = errors;
    b.route = routes.apply(b.model);
    b.key = keys.apply(owner);
    active.put(id, b);
    checkDone(b);
    pump();
    return b;
  }

  // ------------------------------------------------------------------------------ dispatching

  /** One running batch. */
  private final class Active {
    final String id;
    final String owner;
    final JsonObject object;
    final String endpoint;
    final String model;
    final String inputFileId;
    final long expiresAtMillis;
    final String[] customIds;
    final long[] offsets;
    final int[] lengths;
    final ArrayDeque<Integer> queue = new ArrayDeque<>();
    final ArrayDeque<Line> ready = new ArrayDeque<>();
    final Map<Integer, Line> flying = new HashMap<>();
    ModelRoute route;
    ApiKey key;
    RandomAccessFile input;
    int reading;
    int waiting;
    int committing;
    long completed;
    long failed;
    long deferredUntil;
    String ending;
    boolean finalizing;

    /** Another gateway of the cluster runs the batch now. */
    boolean gone;

    Active(String id, String owner, JsonObject object, int lines) {
      this.id = id;
      this.owner = owner;
      this.object = object;
      this.endpoint = object.getString("endpoint");
      this.inputFileId = object.getString("input_file_id");
      this.expiresAtMillis = object.getLong("expires_at") * 1000;
      this.customIds = new String[lines];
      this.offsets = new long[lines];
      this.lengths = new int[lines];
      this.model = object.getString("model");
    }

    JsonObject render() {
      return object.copy().put("request_counts", counts(customIds.length, completed, failed));
    }

    int outstanding() {
      return queue.size() + ready.size() + flying.size() + reading + waiting + committing;
    }
  }

  /** A line read from the input file, ready to send. */
  private static final class Line {
    final int idx;
    final Buffer body;
    final boolean stream;
    int attempts;
    String requestId;
    BatchGate.Flight flight;
    HttpClientRequest req;
    boolean preempted;
    boolean abandoned;

    Line(int idx, Buffer body, boolean stream) {
      this.idx = idx;
      this.body = body;
      this.stream = stream;
    }
  }

  private void tick() {
    long now = System.currentTimeMillis();
    for (Active b : new ArrayList<>(active.values())) {
      if (b.ending == null && !b.finalizing && now >= b.expiresAtMillis) end(b, "expired");
    }
    pump();
  }

  /** Sends what the watermark and {@code maxInFlight} allow, oldest batch first. */
  private void pump() {
    int queued = 0;
    for (Active b : active.values()) {
      queued += b.queue.size() + b.ready.size() + b.waiting + b.reading;
      if (paused || loopback == null || b.ending != null || b.finalizing) continue;
      refill(b);
      long now = System.currentTimeMillis();
      while (inFlight < config.maxInFlight() && !b.ready.isEmpty() && now >= b.deferredUntil) {
        // No more lines than the endpoints under the watermark have slots for, counting those
        // sent and not yet routed: a line beyond them would only be deferred.
        if (b.route == null || gate.unrouted() >= gate.eligibleSlots(b.route.routable())) break;
        send(b, b.ready.poll());
      }
    }
    queuedGauge = queued;
  }

  /** Reads the next lines of a batch's input file on a worker thread. */
  private void refill(Active b) {
    if (b.reading > 0 || b.ready.size() >= PREFETCH / 2 || b.queue.isEmpty()) return;
    List<Integer> idxs = new ArrayList<>(PREFETCH);
    while (idxs.size() < PREFETCH && !b.queue.isEmpty()) idxs.add(b.queue.poll());
    b.reading = idxs.size();
    Path input = files.path(b.inputFileId);
    boolean streamable = !b.endpoint.equals("/v1/embeddings");
    boolean preempt = config.preemption();
    vertx
        .executeBlocking(
            () -> {
              if (b.input == null) b.input = new RandomAccessFile(input.toFile(), "r");
              List<Line> out = new ArrayList<>(idxs.size());
              for (int idx : idxs) {
                byte[] raw = BatchFiles.read(b.input, b.offsets[idx], b.lengths[idx]);
                ObjectNode body = (ObjectNode) JSON.readTree(raw).get("body");
                boolean stream = streamable && (preempt || body.path("stream").asBoolean(false));
                if (stream) {
                  // Streamed to see the first token (preemption); the record holds the answer
                  // the request would have had unstreamed.
                  body.put("stream", true);
                  JsonNode so = body.get("stream_options");
                  ObjectNode options =
                      so != null && so.isObject()
                          ? (ObjectNode) so
                          : body.putObject("stream_options");
                  options.put("include_usage", true);
                }
                out.add(new Line(idx, Buffer.buffer(JSON.writeValueAsBytes(body)), stream));
              }
              return out;
            },
            false)
        .onComplete(
            ar -> {
              b.reading = 0;
              if (closed || b.gone) {
                // The lane closed during the read (its lines stay pending in the store), or the
                // batch went to another gateway.
                closeQuietly(b);
                return;
              }
              if (ar.failed()) {
                LOG.log(Level.WARNING, "batch " + b.id + ": input file unreadable", ar.cause());
                for (int idx : idxs) {
                  record(
                      b,
                      idx,
                      BatchStore.ERROR,
                      errorRecord(
                          b,
                          idx,
                          "file_unreadable",
                          "The input file could not be read: " + ar.cause().getMessage()));
                }
                return;
              }
              if (b.ending != null) {
                checkDone(b);
                return;
              }
              b.ready.addAll(ar.result());
              pump();
            });
  }

  private void send(Active b, Line l) {
    inFlight++;
    b.flying.put(l.idx, l);
    l.preempted = false;
    l.abandoned = false;
    l.req = null;
    l.requestId = BatchFiles.newId("batch_req_");
    BatchGate.Flight[] flight = new BatchGate.Flight[1];
    flight[0] =
        gate.register(l.requestId, b.key, () -> ctx.runOnContext(v -> preempt(b, l, flight[0])));
    l.flight = flight[0];
    RequestOptions o =
        new RequestOptions()
            .setMethod(HttpMethod.POST)
            .setHost(host)
            .setPort(port)
            .setURI(b.endpoint)
            .putHeader("content-type", "application/json")
            .putHeader("x-request-id", l.requestId)
            .putHeader(BatchGate.HEADER, gate.secret());
    loopback
        .request(o)
        .compose(
            req -> {
              l.req = req;
              if (l.preempted || l.abandoned) {
                req.reset();
                return Future.failedFuture("cancelled before it was sent");
              }
              return req.send(l.body);
            })
        .onComplete(
            ar -> {
              if (ar.failed()) {
                failed(b, l, 0, null, ar.cause().getMessage());
                return;
              }
              answered(b, l, ar.result());
            });
  }

  private void answered(Active b, Line l, HttpClientResponse resp) {
    int status = resp.statusCode();
    if (resp.getHeader(BatchGate.DEFERRED) != null) {
      resp.body();
      landed(b, l);
      deferrals.increment();
      b.deferredUntil = System.currentTimeMillis() + TICK_MILLIS;
      requeue(b, l);
      return;
    }
    String type = resp.getHeader("content-type");
    if (status / 100 == 2 && type != null && type.startsWith("text/event-stream")) {
      StreamAssembler asm = new StreamAssembler(!b.endpoint.equals("/v1/completions"));
      SseDecoder sse =
          new SseDecoder(
              data -> {
                asm.onData(data);
                if (asm.started()) gate.started(l.flight);
              },
              MAX_EVENT_BYTES);
      resp.handler(
          chunk -> {
            try {
              sse.feed(chunk);
            } catch (RuntimeException e) {
              resp.request().reset();
            }
          });
      resp.exceptionHandler(err -> failed(b, l, 0, null, err.getMessage()));
      resp.endHandler(
          v -> {
            try {
              sse.end();
            } catch (RuntimeException e) {
              failed(b, l, 0, null, "unreadable stream: " + e.getMessage());
              return;
            }
            if (asm.error() != null) {
              failed(b, l, 500, new JsonObject().put("error", asm.error()), "failed mid-stream");
              return;
            }
            done(b, l, status, asm.result());
          });
      return;
    }
    resp.body()
        .onComplete(
            ar -> {
              if (ar.failed()) {
                failed(b, l, 0, null, ar.cause().getMessage());
                return;
              }
              JsonObject body;
              try {
                body = new JsonObject(ar.result());
              } catch (RuntimeException e) {
                body =
                    new JsonObject()
                        .put("error", new JsonObject().put("message", ar.result().toString()));
              }
              if (status / 100 == 2) done(b, l, status, body);
              else if (retryable(status)) failed(b, l, status, body, "status " + status);
              else {
                landed(b, l);
                record(b, l.idx, BatchStore.ERROR, responseRecord(b, l, status, body));
              }
            });
  }

  private static boolean retryable(int status) {
    return status == 429 || status >= 500;
  }

  private void done(Active b, Line l, int status, JsonObject body) {
    if (!b.flying.containsKey(l.idx) || b.flying.get(l.idx) != l) return;
    landed(b, l);
    record(b, l.idx, BatchStore.OK, responseRecord(b, l, status, body));
  }

  /**
   * A line's request failed on the way ({@code status} 0), or ended in a retryable error status
   * with {@code errorBody}.
   */
  private void failed(Active b, Line l, int status, JsonObject errorBody, String why) {
    if (b.flying.get(l.idx) != l) return;
    landed(b, l);
    if (b.ending != null) {
      // The batch is ending: the line gets its expired or cancelled record.
      checkDone(b);
      return;
    }
    if (l.abandoned || paused) {
      // The lane is pausing: the line waits, pending in the store, for the lane's next start.
      b.ready.addFirst(l);
      return;
    }
    if (l.preempted) {
      preemptions.increment();
      b.ready.addFirst(l);
      pump();
      return;
    }
    l.attempts++;
    if (l.attempts < MAX_ATTEMPTS) {
      retries.increment();
      b.waiting++;
      vertx.setTimer(
          100L << l.attempts,
          t -> {
            b.waiting--;
            if (b.ending != null) {
              checkDone(b);
              return;
            }
            b.ready.addFirst(l);
            pump();
          });
      return;
    }
    JsonObject rec =
        errorBody != null
            ? responseRecord(b, l, status, errorBody)
            : errorRecord(b, l.idx, "request_failed", "The request failed: " + why);
    record(b, l.idx, BatchStore.ERROR, rec);
  }

  /** The line's request is over: it no longer holds a slot. */
  private void landed(Active b, Line l) {
    if (b.flying.remove(l.idx) == null) return;
    inFlight--;
    gate.unregister(l.flight);
  }

  private void requeue(Active b, Line l) {
    b.ready.addFirst(l);
    checkDone(b);
  }

  /** Cancels the attempt {@code f} of line {@code l}, unless it has moved on (a later attempt). */
  private void preempt(Active b, Line l, BatchGate.Flight f) {
    if (b.flying.get(l.idx) != l || l.flight != f || f.started() || l.abandoned) return;
    l.preempted = true;
    if (l.req != null) l.req.reset();
  }

  // ----------------------------------------------------------------------------------- records

  private JsonObject responseRecord(Active b, Line l, int status, JsonObject body) {
    return new JsonObject()
        .put("id", l.requestId)
        .put("custom_id", b.customIds[l.idx])
        .put(
            "response",
            new JsonObject()
                .put("status_code", status)
                .put("request_id", l.requestId)
                .put("body", body))
        .putNull("error");
  }

  private JsonObject errorRecord(Active b, int idx, String code, String message) {
    return new JsonObject()
        .put("id", BatchFiles.newId("batch_req_"))
        .put("custom_id", b.customIds[idx])
        .putNull("response")
        .put("error", new JsonObject().put("code", code).put("message", message));
  }

  /** A line's end on its way to the store. */
  private record End(Active batch, int idx, int state, String record) {}

  /** Ends a line with {@code record}: committed in the next group commit. */
  private void record(Active b, int idx, int state, JsonObject record) {
    b.committing++;
    commits.add(new End(b, idx, state, record.encode()));
    flush();
  }

  private void flush() {
    if (committing || commits.isEmpty()) return;
    committing = true;
    List<End> ends = new ArrayList<>(commits);
    commits.clear();
    List<BatchStore.Finish> rows = new ArrayList<>(ends.size());
    for (End e : ends)
      rows.add(new BatchStore.Finish(e.batch().id, e.idx(), e.state(), e.record()));
    db(() -> {
          boolean[] ended = store.finish(rows);
          BatchReplica r = replica;
          if (r != null) {
            List<BatchStore.Finish> shared = new ArrayList<>();
            for (int i = 0; i < ended.length; i++) if (ended[i]) shared.add(rows.get(i));
            // Committed here whatever the cluster answers: its copy is refreshed by the next one.
            replicate(null, "records", () -> r.putRecords(shared));
          }
          return ended;
        })
        .onComplete(
            ar -> {
              committing = false;
              for (int i = 0; i < ends.size(); i++) {
                End e = ends.get(i);
                Active b = e.batch();
                b.committing--;
                if (ar.failed()) {
                  // Not recorded: the line is pending in the store, and runs again.
                  if (b.ending == null) b.queue.addFirst(e.idx());
                  continue;
                }
                if (!ar.result()[i]) continue;
                if (e.state() == BatchStore.OK) {
                  b.completed++;
                  completed.increment();
                } else {
                  b.failed++;
                  failed.increment();
                }
              }
              if (ar.failed()) LOG.log(Level.SEVERE, "batch records not committed", ar.cause());
              if (replica != null) {
                java.util.Set<Active> touched = new java.util.LinkedHashSet<>();
                for (End e : ends) touched.add(e.batch());
                for (Active b : touched) shareLater(b);
              }
              for (End e : ends) checkDone(e.batch());
              flush();
              pump();
            });
  }

  // ------------------------------------------------------------------------------ batch's end

  /** Starts a batch's end by expiry or cancel: no line is sent any more, those in flight stop. */
  private void end(Active b, String kind) {
    if (b.ending != null || b.finalizing) return;
    b.ending = kind;
    b.queue.clear();
    b.ready.clear();
    for (Line l : new ArrayList<>(b.flying.values())) {
      l.abandoned = true;
      if (l.req != null) l.req.reset();
    }
    if (kind.equals("cancelled")) {
      b.object.put("status", "cancelling").put("cancelling_at", System.currentTimeMillis() / 1000);
      String text = b.render().encode();
      db(() -> {
            store.updateBatch(b.id, "cancelling", text);
            return share(b.id, b.owner, new JsonObject(text));
          })
          .onSuccess(
              mine -> {
                if (!mine) handOver(b.id);
              });
    }
    checkDone(b);
  }

  private void checkDone(Active b) {
    if (b.gone || b.finalizing || b.outstanding() > 0) return;
    if (b.ending == null) {
      finalizeBatch(b, "completed");
      return;
    }
    // Every line not done gets its expired or cancelled record, then the batch ends.
    b.finalizing = true;
    String code = b.ending.equals("expired") ? "batch_expired" : "batch_cancelled";
    String message =
        b.ending.equals("expired")
            ? "This request could not be executed before the completion window expired."
            : "This request was not executed: the batch was cancelled.";
    String[] ids = b.customIds;
    boolean expiring = b.ending.equals("expired");
    db(() -> {
          List<BatchStore.Finish> rows = new ArrayList<>();
          for (int idx : store.pending(b.id)) {
            JsonObject rec =
                new JsonObject()
                    .put("id", BatchFiles.newId("batch_req_"))
                    .put("custom_id", ids[idx])
                    .putNull("response")
                    .put("error", new JsonObject().put("code", code).put("message", message));
            rows.add(new BatchStore.Finish(b.id, idx, BatchStore.ERROR, rec.encode()));
          }
          // An expiring batch is marked so in the same transaction: a restart ends it as expired.
          boolean[] ended = store.finish(rows, b.id, expiring ? "expiring" : null);
          int n = 0;
          for (boolean e : ended) if (e) n++;
          BatchReplica r = replica;
          if (r != null) replicate(b.id, "records", () -> r.putRecords(rows));
          return n;
        })
        .onComplete(
            ar -> {
              if (ar.succeeded()) {
                b.failed += ar.result();
                (b.ending.equals("expired") ? expired : cancelled).increment(ar.result());
              }
              b.finalizing = false;
              finalizeBatch(b, b.ending);
            });
  }

  /** Writes the output and error files and sets the batch's final status. */
  private void finalizeBatch(Active b, String status) {
    b.finalizing = true;
    long now = System.currentTimeMillis() / 1000;
    JsonObject fin = b.render();
    JsonObject finalizing = null;
    if (status.equals("completed")) {
      fin.put("finalizing_at", now);
      finalizing = fin.copy().put("status", "finalizing");
      b.object.put("status", "finalizing").put("finalizing_at", now);
    }
    String finalizingText = finalizing == null ? null : finalizing.encode();
    String stamp =
        switch (status) {
          case "completed" -> "completed_at";
          case "expired" -> "expired_at";
          default -> "cancelled_at";
        };
    fin.put("status", status).put(stamp, now);
    String base = b.id.startsWith("batch_") ? b.id.substring("batch_".length()) : b.id;
    boolean inputInUse = false;
    for (Active other : active.values())
      inputInUse |= other != b && other.inputFileId.equals(b.inputFileId);
    for (Validating v : validating.values()) inputInUse |= v.inputFileId.equals(b.inputFileId);
    boolean keepInput = inputInUse;
    db(() -> {
          if (finalizingText != null) store.updateBatch(b.id, "finalizing", finalizingText);
          List<BatchStore.FileRow> outputs = new ArrayList<>();
          BatchStore.FileRow out =
              writeRecords(b, BatchStore.OK, "file-" + base + "-output", "output", now);
          BatchStore.FileRow err =
              writeRecords(b, BatchStore.ERROR, "file-" + base + "-errors", "errors", now);
          if (out != null) {
            outputs.add(out);
            fin.put("output_file_id", out.id());
          }
          if (err != null) {
            outputs.add(err);
            fin.put("error_file_id", err.id());
          }
          store.finalizeBatch(b.id, outputs, status, fin.encode());
          BatchReplica r = replica;
          if (r != null) {
            for (BatchStore.FileRow f : outputs) {
              replicate(b.id, "output file", () -> r.putFile(f, files.path(f.id())));
            }
            share(b.id, b.owner, fin);
            replicate(b.id, "input release", () -> r.release(b.inputFileId));
          }
          closeQuietly(b);
          // A deleted input file's bytes go with the last batch that reads them.
          if (!keepInput && store.file(b.inputFileId) == null) files.delete(b.inputFileId);
          return fin;
        })
        .onComplete(
            ar -> {
              active.remove(b.id);
              if (ar.failed()) {
                LOG.log(Level.SEVERE, "batch " + b.id + " could not be finalized", ar.cause());
              }
              pump();
            });
  }

  /** Writes a batch's records of one state to a new file; null when it has none. */
  private BatchStore.FileRow writeRecords(Active b, int state, String fileId, String kind, long now)
      throws Exception {
    Path tmp = files.temp(fileId);
    long[] count = new long[1];
    try (Writer w = Files.newBufferedWriter(tmp, StandardCharsets.UTF_8)) {
      IOException[] failure = new IOException[1];
      store.records(
          b.id,
          state,
          rec -> {
            if (failure[0] != null) return;
            try {
              w.write(rec);
              w.write('\n');
              count[0]++;
            } catch (IOException e) {
              failure[0] = e;
            }
          });
      if (failure[0] != null) throw failure[0];
    }
    if (count[0] == 0) {
      Files.deleteIfExists(tmp);
      return null;
    }
    long bytes = Files.size(tmp);
    files.commit(tmp, fileId);
    return new BatchStore.FileRow(
        fileId, b.owner, "batch_output", b.id + "_" + kind + ".jsonl", bytes, now);
  }

  private static void closeQuietly(Active b) {
    RandomAccessFile f = b.input;
    b.input = null;
    if (f == null) return;
    try {
      f.close();
    } catch (IOException ignored) {
      // Read-only: nothing to lose.
    }
  }

  // ----------------------------------------------------------------------------------- cluster

  /** A write to the cluster's copy. */
  private interface ClusterWrite {
    void run() throws Exception;
  }

  /**
   * Store thread: writes to the cluster's copy after the local store committed; a failure is logged
   * and the local commit stands (the next write refreshes the copy).
   */
  private static void replicate(String batchId, String what, ClusterWrite write) {
    try {
      write.run();
    } catch (Exception e) {
      LOG.log(
          Level.WARNING,
          (batchId == null ? "batch lane" : "batch " + batchId)
              + ": "
              + what
              + " not written to the cluster",
          e);
    }
  }

  /**
   * Store thread: the batch's object as the cluster's copy, this member its runner; false when
   * another member runs the batch now (it adopted it), which this one then hands over.
   */
  private boolean share(String id, String owner, JsonObject object) {
    BatchReplica r = replica;
    if (r == null) return true;
    try {
      return r.putIfRunner(id, owner, object);
    } catch (RuntimeException e) {
      LOG.log(Level.WARNING, "batch " + id + ": state not written to the cluster", e);
      return true;
    }
  }

  /** Shares a running batch's object (its counts) with the cluster. */
  private void shareLater(Active b) {
    String text = b.render().encode();
    db(() -> share(b.id, b.owner, new JsonObject(text)))
        .onSuccess(
            mine -> {
              if (!mine) handOver(b.id);
            });
  }

  /**
   * Another gateway of the cluster runs the batch now: this one stops sending its lines and marks
   * it {@code handed_over} in its store, so that a restart does not run it again.
   */
  private void handOver(String id) {
    validating.remove(id);
    Active b = active.remove(id);
    if (b != null) {
      b.gone = true;
      for (Line l : new ArrayList<>(b.flying.values())) {
        l.abandoned = true;
        if (l.req != null) l.req.reset();
      }
      if (b.reading == 0) closeQuietly(b);
    }
    LOG.info("batch " + id + " runs on another gateway of the cluster");
    db(
        () -> {
          store.setStatus(id, "handed_over");
          return null;
        });
  }

  /** Asks the batch's runner, wherever it is, to cancel it. */
  private Future<Void> requestCancel(String id) {
    return db(
        () -> {
          replica.requestCancel(id);
          return null;
        });
  }

  /**
   * Clustered: ends the batches a peer asked to cancel, and, on the oldest member, adopts the
   * unfinished batches whose runner left the cluster.
   */
  private void sweep() {
    if (closed || replica == null) return;
    List<String> running = new ArrayList<>();
    for (Active b : active.values()) if (b.ending == null && !b.finalizing) running.add(b.id);
    db(() -> {
          BatchReplica r = replica;
          List<String> cancels = new ArrayList<>();
          for (String id : running) if (r.cancelRequested(id)) cancels.add(id);
          List<BatchReplica.Shared[]> adopted = new ArrayList<>();
          if (r.oldest()) {
            for (BatchReplica.Shared s : r.orphans()) {
              BatchReplica.Shared claimed = r.claim(s);
              if (claimed != null) adopted.add(new BatchReplica.Shared[] {s, claimed});
            }
          }
          return new Object[] {cancels, adopted};
        })
        .onSuccess(
            o -> {
              @SuppressWarnings("unchecked")
              List<String> cancels = (List<String>) o[0];
              @SuppressWarnings("unchecked")
              List<BatchReplica.Shared[]> adopted = (List<BatchReplica.Shared[]>) o[1];
              for (String id : cancels) {
                Active b = active.get(id);
                if (b != null) end(b, "cancelled");
              }
              for (BatchReplica.Shared[] a : adopted) adopt(a[0], a[1]);
            })
        .onFailure(e -> LOG.log(Level.WARNING, "batch lane: cluster sweep failed", e));
  }

  /** The cluster no longer holds a batch's input file: the batch cannot run anywhere. */
  private static final class InputLost extends IOException {
    InputLost(String message) {
      super(message);
    }
  }

  /**
   * Runs a batch whose runner left the cluster ({@code before}, now {@code claimed} by this
   * member): its input file and its records, as the cluster holds them, rebuilt into this gateway's
   * store; then the lines without a record are sent. When the input is lost the batch fails; any
   * other failure gives the claim back, for the next sweep to try again.
   */
  private void adopt(BatchReplica.Shared before, BatchReplica.Shared claimed) {
    String id = claimed.id();
    LOG.info("batch " + id + ": adopted from a gateway that left the cluster");
    JsonObject obj = claimed.object();
    String inputId = obj.getString("input_file_id");
    db(() -> {
          BatchReplica r = replica;
          if (store.file(inputId) == null && !Files.exists(files.path(inputId))) {
            BatchStore.FileRow f = r.inputFile(inputId);
            if (f == null) throw new InputLost("its input file " + inputId + " is lost");
            Path tmp = files.temp(inputId);
            try {
              r.readFile(inputId, tmp);
            } catch (IOException e) {
              Files.deleteIfExists(tmp);
              throw new InputLost("its input file " + inputId + " is lost: " + e.getMessage());
            }
            files.commit(tmp, inputId);
            store.putFile(f);
            if (r.file(inputId) == null) store.deleteFile(inputId);
          }
          String status = obj.getString("status");
          store.upsertBatch(id, claimed.owner(), status, obj.encode());
          if (status.equals("validating")) return null;
          InputValidator.Result v =
              InputValidator.validate(
                  files.path(inputId), obj.getString("endpoint"), Integer.MAX_VALUE);
          store.putLines(id, v.lines(), status, obj.encode());
          store.finish(r.records(id, v.lines().size()));
          return store.batch(id);
        })
        .onComplete(
            ar -> {
              if (ar.succeeded()) {
                if (ar.result() == null) startValidation(id, claimed.owner(), obj);
                else resume(ar.result());
                return;
              }
              LOG.log(Level.SEVERE, "batch " + id + " could not be adopted", ar.cause());
              if (ar.cause() instanceof InputLost lost) {
                long now = System.currentTimeMillis() / 1000;
                JsonObject failed =
                    obj.copy()
                        .put("status", "failed")
                        .put("failed_at", now)
                        .put(
                            "errors",
                            new JsonObject()
                                .put("object", "list")
                                .put(
                                    "data",
                                    new JsonArray()
                                        .add(
                                            problem(
                                                "input_file_lost",
                                                "The batch's gateway left the cluster and "
                                                    + lost.getMessage(),
                                                "input_file_id"))));
                String text = failed.encode();
                db(
                    () -> {
                      store.upsertBatch(id, claimed.owner(), "failed", text);
                      share(id, claimed.owner(), new JsonObject(text));
                      return null;
                    });
              } else {
                db(
                    () -> {
                      replica.unclaim(claimed, before);
                      return null;
                    });
              }
            });
  }

  // ----------------------------------------------------------------------------------- helpers

  private double idleSlotsUsed() {
    int running = gate.running();
    long free = 0;
    for (ModelRoute r : allRoutes) free += gate.freeSlots(r.routable());
    long slots = running + free;
    return slots == 0 ? 0 : (double) running / slots;
  }

  static JsonObject counts(long total, long completed, long failed) {
    return new JsonObject().put("total", total).put("completed", completed).put("failed", failed);
  }

  static String windowText(long seconds) {
    if (seconds % 3600 == 0) return (seconds / 3600) + "h";
    if (seconds % 60 == 0) return (seconds / 60) + "m";
    return seconds + "s";
  }

  static OpenAiException noSuchFile(String id) {
    return OpenAiException.notFound("file_not_found", "No such File object: " + id);
  }

  static OpenAiException noSuchBatch(String id) {
    return OpenAiException.notFound("batch_not_found", "No such Batch object: " + id);
  }

  /** Runs blocking store work on the store thread; completes on the lane's context. */
  private <T> Future<T> db(Callable<T> work) {
    Promise<T> p = Promise.promise();
    try {
      storeThread.execute(
          () -> {
            try {
              T v = work.call();
              ctx.runOnContext(x -> p.complete(v));
            } catch (Throwable t) {
              ctx.runOnContext(x -> p.fail(t));
            }
          });
    } catch (java.util.concurrent.RejectedExecutionException e) {
      p.fail(new IOException("the batch store is closed"));
    }
    return p.future();
  }

  /** Runs {@code work} on the lane's context. */
  private <T> Future<T> runOnLane(Callable<T> work) {
    Promise<T> p = Promise.promise();
    ctx.runOnContext(
        x -> {
          try {
            p.complete(work.call());
          } catch (Throwable t) {
            p.fail(t);
          }
        });
    return p.future();
  }
}
