package io.kvgate.gateway.batch;

import io.kvgate.gateway.auth.ApiKey;
import io.kvgate.gateway.openai.OpenAiErrors;
import io.kvgate.gateway.openai.OpenAiException;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.file.AsyncFile;
import io.vertx.core.file.OpenOptions;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.HttpServerFileUpload;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.http.HttpServerResponse;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The OpenAI Files and Batches API of the batch lane, on the API listener: {@code POST /v1/files}
 * (multipart, purpose {@code batch}), {@code GET /v1/files[/{id}[/content]]}, {@code DELETE
 * /v1/files/{id}}, {@code POST /v1/batches}, {@code GET /v1/batches[/{id}]}, {@code POST
 * /v1/batches/{id}/cancel}. Files and batches belong to the API key that created them; another key
 * sees 404. Every refusal is OpenAI's error shape.
 */
public final class BatchApi {

  /** The largest {@code POST /v1/batches} body (the request, not the file). */
  static final int MAX_CREATE_BYTES = 64 * 1024;

  /** Purposes a file may be uploaded with; only {@code batch} files feed batches. */
  static final List<String> PURPOSES =
      List.of("batch", "fine-tune", "assistants", "vision", "user_data", "evals");

  /**
   * The largest file part without a filename, which the multipart decoder reads as a form field, in
   * memory ({@code HttpServerOptions.maxFormAttributeSize}).
   */
  public static final int UNNAMED_FILE_BYTES = 16 * 1024 * 1024;

  private static final Pattern WINDOW = Pattern.compile("([1-9][0-9]{0,6})([hms])");
  private static final Pattern FILE = Pattern.compile("/v1/files/([^/]+)(/content)?");
  private static final Pattern BATCH = Pattern.compile("/v1/batches/([^/]+)(/cancel)?");

  private final BatchLane lane;

  public BatchApi(BatchLane lane) {
    this.lane = lane;
  }

  /** Whether {@code path} is one of this API's. */
  public static boolean serves(String path) {
    return path.equals("/v1/files")
        || path.startsWith("/v1/files/")
        || path.equals("/v1/batches")
        || path.startsWith("/v1/batches/");
  }

  /** Serves one request of an authenticated key. */
  public void handle(HttpServerRequest req, ApiKey key) {
    HttpServerResponse resp = req.response();
    String path = req.path();
    HttpMethod m = req.method();
    String owner = key.name();
    try {
      if (path.equals("/v1/files")) {
        if (m == HttpMethod.POST) upload(req, owner);
        else if (m == HttpMethod.GET) listFiles(req, owner);
        else throw notAllowed(req);
        return;
      }
      Matcher f = FILE.matcher(path);
      if (f.matches()) {
        String id = f.group(1);
        boolean content = f.group(2) != null;
        if (m == HttpMethod.GET && content) content(req, owner, id);
        else if (m == HttpMethod.GET) reply(resp, lane.file(owner, id).map(BatchApi::fileObject));
        else if (m == HttpMethod.DELETE && !content)
          reply(
              resp,
              lane.deleteFile(owner, id)
                  .map(
                      v ->
                          new JsonObject()
                              .put("id", id)
                              .put("object", "file")
                              .put("deleted", true)));
        else throw notAllowed(req);
        return;
      }
      if (path.equals("/v1/batches")) {
        if (m == HttpMethod.POST) create(req, key);
        else if (m == HttpMethod.GET) listBatches(req, owner);
        else throw notAllowed(req);
        return;
      }
      Matcher b = BATCH.matcher(path);
      if (b.matches()) {
        String id = b.group(1);
        if (b.group(2) != null && m == HttpMethod.POST) {
          closeBody(req);
          reply(resp, lane.cancel(owner, id));
        } else if (b.group(2) == null && m == HttpMethod.GET) reply(resp, lane.batch(owner, id));
        else throw notAllowed(req);
        return;
      }
      throw OpenAiException.notFound("unknown_url", "no route for " + m + " " + path);
    } catch (OpenAiException e) {
      refuse(req, e);
    }
  }

  // ------------------------------------------------------------------------------------ files

  private void upload(HttpServerRequest req, String owner) {
    String type = req.getHeader("content-type");
    if (type == null || !type.toLowerCase(java.util.Locale.ROOT).startsWith("multipart/form-data"))
      throw OpenAiException.badRequest(
          null, "Upload a file as multipart/form-data with the fields 'file' and 'purpose'.");
    long max = lane.config().maxFileBytes();
    String lengthHeader = req.getHeader("content-length");
    if (lengthHeader != null) {
      try {
        // The multipart envelope adds a few hundred bytes to the file.
        if (Long.parseLong(lengthHeader.trim()) > max + 64 * 1024) throw tooLarge(max);
      } catch (NumberFormatException ignored) {
        // Vert.x refuses a malformed length itself.
      }
    }
    String id = BatchFiles.newId("file-");
    Path tmp = lane.files().temp(id);
    Upload u = new Upload(id, tmp);
    req.setExpectMultipart(true);
    req.uploadHandler(
        up -> {
          if (!up.name().equals("file") || u.started) {
            up.handler(x -> {});
            return;
          }
          u.started = true;
          u.filename =
              up.filename() == null || up.filename().isBlank() ? "upload.jsonl" : up.filename();
          receive(req, up, u, max);
        });
    req.exceptionHandler(
        err -> {
          String m = String.valueOf(err.getMessage());
          u.fail(
              m.contains("Size exceed")
                  ? new OpenAiException(
                      413,
                      "invalid_request_error",
                      "file",
                      "file_too_large",
                      "A file part without a filename is read as a form field, at most "
                          + UNNAMED_FILE_BYTES
                          + " bytes: give the file a filename to upload more")
                  : OpenAiException.badRequest(null, "Malformed multipart body: " + m));
        });
    req.endHandler(
        v ->
            (u.started ? u.written.future() : Future.<Void>succeededFuture())
                .onComplete(
                    ar -> {
                      if (ar.failed()) {
                        refuse(req, OpenAiErrors.of(ar.cause()));
                        return;
                      }
                      String purpose = req.getFormAttribute("purpose");
                      String inline = req.getFormAttribute("file");
                      // A file part without a filename (some SDKs' byte-array form): written
                      // with the commit, on a worker thread.
                      byte[] inlineBytes = null;
                      if (!u.started && inline != null) {
                        inlineBytes = inline.getBytes(java.nio.charset.StandardCharsets.UTF_8);
                        if (inlineBytes.length > max) {
                          refuse(req, tooLarge(max));
                          return;
                        }
                        u.started = true;
                        u.filename = "upload.jsonl";
                        u.bytes = inlineBytes.length;
                      }
                      if (!u.started) {
                        refuse(
                            req,
                            OpenAiException.badRequest(
                                "file", "Missing required parameter: 'file'."));
                        return;
                      }
                      if (purpose == null) {
                        discard(tmp);
                        refuse(
                            req,
                            OpenAiException.badRequest(
                                "purpose", "Missing required parameter: 'purpose'."));
                        return;
                      }
                      if (!PURPOSES.contains(purpose)) {
                        discard(tmp);
                        refuse(
                            req,
                            OpenAiException.badRequest(
                                "purpose",
                                "'" + purpose + "' is not one of " + PURPOSES + " - 'purpose'"));
                        return;
                      }
                      long now = System.currentTimeMillis() / 1000;
                      BatchStore.FileRow row =
                          new BatchStore.FileRow(id, owner, purpose, u.filename, u.bytes, now);
                      byte[] toWrite = inlineBytes;
                      Future<BatchStore.FileRow> saved =
                          lane.vertx()
                              .executeBlocking(
                                  () -> {
                                    if (toWrite != null) java.nio.file.Files.write(tmp, toWrite);
                                    lane.files().commit(tmp, id);
                                    return row;
                                  },
                                  false)
                              .compose(lane::addFile);
                      reply(req.response(), saved.map(BatchApi::fileObject));
                    }));
  }

  /** A file upload in progress. */
  private final class Upload {
    final String id;
    final Path tmp;
    final Promise<Void> written = Promise.promise();
    boolean started;
    String filename;
    long bytes;
    AsyncFile file;

    Upload(String id, Path tmp) {
      this.id = id;
      this.tmp = tmp;
    }

    void fail(Throwable t) {
      if (file != null) file.close();
      discard(tmp);
      written.tryFail(t);
    }
  }

  /** Streams the file part to disk, counting its bytes against the limit. */
  private void receive(HttpServerRequest req, HttpServerFileUpload up, Upload u, long max) {
    up.pause();
    lane.vertx()
        .fileSystem()
        .open(
            u.tmp.toString(),
            new OpenOptions().setWrite(true).setCreate(true).setTruncateExisting(true))
        .onFailure(u::fail)
        .onSuccess(
            file -> {
              u.file = file;
              up.handler(
                  chunk -> {
                    if (u.written.future().isComplete()) return;
                    u.bytes += chunk.length();
                    if (u.bytes > max) {
                      if (!req.response().headWritten())
                        req.response().putHeader("connection", "close");
                      u.fail(tooLarge(max));
                      return;
                    }
                    file.write(chunk);
                    if (file.writeQueueFull()) {
                      up.pause();
                      file.drainHandler(v -> up.resume());
                    }
                  });
              up.exceptionHandler(u::fail);
              up.endHandler(
                  v -> {
                    if (u.written.future().isComplete()) return;
                    file.flush()
                        .compose(x -> file.close())
                        .onComplete(
                            ar -> {
                              if (ar.failed()) u.fail(ar.cause());
                              else u.written.tryComplete();
                            });
                  });
              up.resume();
            });
  }

  private static OpenAiException tooLarge(long max) {
    return new OpenAiException(
        413,
        "invalid_request_error",
        "file",
        "file_too_large",
        "The file is larger than this gateway's limit of " + max + " bytes (batch.maxFileBytes).");
  }

  /** Removes an upload's temporary file, off the event loop; a leftover goes at the next start. */
  private void discard(Path tmp) {
    lane.vertx().fileSystem().delete(tmp.toString());
  }

  private void listFiles(HttpServerRequest req, String owner) {
    String purpose = req.getParam("purpose");
    String after = req.getParam("after");
    int limit = intParam(req, "limit", 10_000, 1, 10_000);
    String order = req.getParam("order", "desc");
    if (!order.equals("asc") && !order.equals("desc"))
      throw OpenAiException.badRequest("order", "'order' must be 'asc' or 'desc'.");
    if (after != null && !BatchFiles.validId(after))
      throw OpenAiException.badRequest("after", "'after' is not a file id.");
    reply(
        req.response(),
        lane.files(owner, purpose, after, limit + 1, order.equals("asc"))
            .map(
                rows -> {
                  JsonArray data = new JsonArray();
                  for (int i = 0; i < Math.min(limit, rows.size()); i++)
                    data.add(fileObject(rows.get(i)));
                  return list(data, rows.size() > limit);
                }));
  }

  private void content(HttpServerRequest req, String owner, String id) {
    lane.file(owner, id)
        .onComplete(
            ar -> {
              if (ar.failed()) {
                refuse(req, OpenAiErrors.of(ar.cause()));
                return;
              }
              HttpServerResponse resp = req.response();
              resp.putHeader("content-type", "application/octet-stream")
                  .putHeader(
                      "content-disposition",
                      "attachment; filename=\"" + ar.result().filename().replace("\"", "") + "\"")
                  .sendFile(lane.files().path(id).toString())
                  .onFailure(e -> OpenAiErrors.send(resp, e));
            });
  }

  static JsonObject fileObject(BatchStore.FileRow f) {
    return new JsonObject()
        .put("id", f.id())
        .put("object", "file")
        .put("bytes", f.bytes())
        .put("created_at", f.createdAt())
        .putNull("expires_at")
        .put("filename", f.filename())
        .put("purpose", f.purpose())
        .put("status", "processed")
        .putNull("status_details");
  }

  // ---------------------------------------------------------------------------------- batches

  private void create(HttpServerRequest req, ApiKey key) {
    readJson(req)
        .compose(
            body -> {
              String input = string(body, "input_file_id");
              String endpoint = string(body, "endpoint");
              String window = string(body, "completion_window");
              if (!BatchLane.ENDPOINTS.contains(endpoint))
                throw OpenAiException.badRequest(
                    "endpoint",
                    "'" + endpoint + "' is not one of " + BatchLane.ENDPOINTS + " - 'endpoint'");
              long seconds = windowSeconds(window);
              Object md = body.getValue("metadata");
              JsonObject metadata = null;
              if (md != null) {
                if (!(md instanceof JsonObject o) || o.size() > 16)
                  throw OpenAiException.badRequest(
                      "metadata", "'metadata' must be an object of at most 16 string pairs.");
                for (Map.Entry<String, Object> e : o) {
                  if (e.getKey().length() > 64
                      || !(e.getValue() instanceof String s)
                      || s.length() > 512)
                    throw OpenAiException.badRequest(
                        "metadata",
                        "'metadata' keys are strings of at most 64 characters, values strings of"
                            + " at most 512.");
                }
                metadata = o;
              }
              return lane.create(key, input, endpoint, seconds, metadata);
            })
        .onComplete(ar -> reply(req.response(), ar));
  }

  private long windowSeconds(String window) {
    Matcher w = WINDOW.matcher(window);
    if (!w.matches())
      throw OpenAiException.badRequest(
          "completion_window",
          "'" + window + "' is not a completion window: give '24h' (or a duration such as 90m).");
    long n = Long.parseLong(w.group(1));
    long seconds =
        switch (w.group(2)) {
          case "h" -> n * 3600;
          case "m" -> n * 60;
          default -> n;
        };
    if (seconds > lane.config().maxCompletionWindow().toSeconds())
      throw OpenAiException.badRequest(
          "completion_window",
          "'"
              + window
              + "' is longer than this gateway's limit ("
              + BatchLane.windowText(lane.config().maxCompletionWindow().toSeconds())
              + ", batch.maxCompletionWindow).");
    return seconds;
  }

  private static String string(JsonObject body, String field) {
    Object v = body.getValue(field);
    if (v == null)
      throw OpenAiException.badRequest(field, "Missing required parameter: '" + field + "'.");
    if (!(v instanceof String s))
      throw OpenAiException.badRequest(field, "'" + field + "' must be a string.");
    return s;
  }

  private void listBatches(HttpServerRequest req, String owner) {
    String after = req.getParam("after");
    int limit = intParam(req, "limit", 20, 1, 100);
    if (after != null && !BatchFiles.validId(after))
      throw OpenAiException.badRequest("after", "'after' is not a batch id.");
    reply(
        req.response(),
        lane.batches(owner, after, limit)
            .map(
                rows -> {
                  JsonArray data = new JsonArray();
                  for (int i = 0; i < Math.min(limit, rows.size()); i++) data.add(rows.get(i));
                  return list(data, rows.size() > limit);
                }));
  }

  // ---------------------------------------------------------------------------------- helpers

  private static JsonObject list(JsonArray data, boolean more) {
    JsonObject out = new JsonObject().put("object", "list").put("data", data);
    out.put("first_id", data.isEmpty() ? null : data.getJsonObject(0).getString("id"));
    out.put("last_id", data.isEmpty() ? null : data.getJsonObject(data.size() - 1).getString("id"));
    out.put("has_more", more);
    return out;
  }

  private static int intParam(HttpServerRequest req, String name, int dflt, int min, int max) {
    String v = req.getParam(name);
    if (v == null) return dflt;
    try {
      int n = Integer.parseInt(v);
      if (n >= min && n <= max) return n;
    } catch (NumberFormatException ignored) {
      // Refused below.
    }
    throw OpenAiException.badRequest(
        name, "'" + name + "' must be an integer from " + min + " to " + max + ".");
  }

  /** Reads a small JSON object body. */
  private static Future<JsonObject> readJson(HttpServerRequest req) {
    Promise<JsonObject> p = Promise.promise();
    Buffer acc = Buffer.buffer();
    req.handler(
        chunk -> {
          if (p.future().isComplete()) return;
          if (acc.length() + chunk.length() > MAX_CREATE_BYTES) {
            req.response().putHeader("connection", "close");
            p.tryFail(OpenAiException.tooLarge(MAX_CREATE_BYTES));
            return;
          }
          acc.appendBuffer(chunk);
        });
    req.exceptionHandler(p::tryFail);
    req.endHandler(
        v -> {
          if (p.future().isComplete()) return;
          try {
            Object parsed = io.vertx.core.json.Json.decodeValue(acc);
            if (!(parsed instanceof JsonObject o))
              throw OpenAiException.badRequest(null, "The body must be a JSON object.");
            p.tryComplete(o);
          } catch (OpenAiException e) {
            p.tryFail(e);
          } catch (RuntimeException e) {
            p.tryFail(
                OpenAiException.badRequest(
                    null, "We could not parse the JSON body of your request: " + e.getMessage()));
          }
        });
    return p.future();
  }

  private static void closeBody(HttpServerRequest req) {
    req.handler(x -> {});
  }

  private static OpenAiException notAllowed(HttpServerRequest req) {
    return OpenAiException.notFound(
        "unknown_url", "no route for " + req.method() + " " + req.path());
  }

  private static void reply(HttpServerResponse resp, Future<JsonObject> f) {
    f.onComplete(ar -> reply(resp, ar));
  }

  private static void reply(HttpServerResponse resp, io.vertx.core.AsyncResult<JsonObject> ar) {
    if (ar.failed()) {
      OpenAiErrors.send(resp, ar.cause());
      return;
    }
    if (resp.ended() || resp.closed()) return;
    resp.setStatusCode(200)
        .putHeader("content-type", "application/json")
        .end(ar.result().toBuffer());
  }

  /** Answers an error; a request whose body was not read closes its connection. */
  private static void refuse(HttpServerRequest req, OpenAiException e) {
    if (!req.isEnded()) req.response().putHeader("connection", "close");
    OpenAiErrors.send(req.response(), e);
  }
}
