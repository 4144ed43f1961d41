package io.kvgate.bench;

import io.kvgate.gateway.Gateway;
import io.kvgate.gateway.config.GatewayConfigLoader;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.VertxOptions;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpClient;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.PoolOptions;
import io.vertx.core.http.RequestOptions;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;

/**
 * One request through the whole gateway: a client connection to kvgate's listener, the body read
 * and parsed, the prompt hashed and routed by the default {@code cache-aware} policy (the index
 * written), the request proxied to an in-process upstream that answers at once with a canned OpenAI
 * body, and the answer relayed back. Everything runs in this JVM (one Vert.x, its event loops
 * shared by client, gateway and upstream), so the time per request and, with {@code -prof gc}, the
 * bytes allocated per request are the relay's own plus a minimal client and upstream: a regression
 * on the request path shows up here without wrk or nginx.
 *
 * <p>{@code body}: {@code short} (a one-line chat), {@code stream} (the same, streamed: 64 SSE
 * chunks back), {@code long32k} (a 32k-token prompt, about 128 KB, parsed on a worker thread).
 * Every request carries the same prompt, so after the first it is a full cache hit on the one
 * endpoint.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.SampleTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Fork(
    value = 1,
    jvmArgsAppend = {"-Xmx2g"})
public class RelayBenchmark {

  static final String MODEL = "bench-model";

  @Param({"short", "stream", "long32k"})
  public String body;

  private Vertx vertx;
  private HttpServer upstream;
  private Gateway gateway;
  private HttpClient client;
  private Buffer payload;
  private RequestOptions request;
  private Path dataDir;

  @Setup(Level.Trial)
  public void setUp() throws Exception {
    vertx = Vertx.vertx(new VertxOptions().setPreferNativeTransport(true));
    Buffer completion = Buffer.buffer(cannedCompletion());
    Buffer stream = Buffer.buffer(cannedStream(64));
    boolean streamed = body.equals("stream");
    upstream =
        vertx
            .createHttpServer()
            .requestHandler(
                req -> {
                  if (req.path().equals("/health")) {
                    req.response().end();
                    return;
                  }
                  if (req.path().equals("/metrics")) {
                    req.response().putHeader("content-type", "text/plain").end();
                    return;
                  }
                  // The body is discarded as it arrives, not gathered: what a request allocates
                  // here is the gateway's, not the upstream's.
                  req.handler(chunk -> {});
                  req.endHandler(
                      v ->
                          req.response()
                              .putHeader(
                                  "content-type",
                                  streamed ? "text/event-stream" : "application/json")
                              .end(streamed ? stream : completion));
                })
            .listen(0, "127.0.0.1")
            .await(30, TimeUnit.SECONDS);
    dataDir = Files.createTempDirectory("kvgate-relay-bench");
    String yaml =
        "listener: {host: 127.0.0.1, port: 0}\n"
            + "batch: {enabled: false}\n"
            + "models:\n"
            + "  - {name: "
            + MODEL
            + ", policy: cache-aware, endpoints: [{url: \"http://127.0.0.1:"
            + upstream.actualPort()
            + "\"}]}\n";
    gateway =
        Gateway.start(vertx, GatewayConfigLoader.parse(yaml, "relay-bench.yaml"))
            .await(30, TimeUnit.SECONDS);
    client =
        vertx.createHttpClient(
            new HttpClientOptions().setKeepAlive(true).setTcpNoDelay(true),
            new PoolOptions().setHttp1MaxSize(1));
    payload = Buffer.buffer(body(body));
    request =
        new RequestOptions()
            .setMethod(HttpMethod.POST)
            .setHost("127.0.0.1")
            .setPort(gateway.port())
            .setURI("/v1/chat/completions")
            .putHeader("content-type", "application/json");
    int status = relay();
    if (status != 200) throw new IllegalStateException("the gateway answered " + status);
  }

  @TearDown(Level.Trial)
  public void tearDown() throws Exception {
    client.close().await(30, TimeUnit.SECONDS);
    gateway.close().await(30, TimeUnit.SECONDS);
    upstream.close().await(30, TimeUnit.SECONDS);
    vertx.close().await(30, TimeUnit.SECONDS);
  }

  /** One request, answered and read whole; its status. */
  @Benchmark
  public int relay() throws Exception {
    Future<Integer> f =
        client
            .request(request)
            .compose(req -> req.send(payload))
            .compose(resp -> resp.body().map(b -> resp.statusCode()));
    return f.toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
  }

  static String body(String kind) {
    String content =
        switch (kind) {
          case "short", "stream" -> "Say hello in five words.";
          case "long32k" -> Prompts.text(32_000 * Prompts.CHARS_PER_TOKEN, 1);
          default -> throw new IllegalArgumentException("body: short, stream or long32k");
        };
    JsonObject b =
        new JsonObject()
            .put("model", MODEL)
            .put("max_tokens", kind.equals("stream") ? 64 : 8)
            .put(
                "messages",
                new JsonArray().add(new JsonObject().put("role", "user").put("content", content)));
    if (kind.equals("stream")) b.put("stream", true);
    return b.encode();
  }

  static String cannedCompletion() {
    return new JsonObject()
        .put("id", "chatcmpl-canned")
        .put("object", "chat.completion")
        .put("created", 1700000000)
        .put("model", MODEL)
        .put(
            "choices",
            new JsonArray()
                .add(
                    new JsonObject()
                        .put("index", 0)
                        .put(
                            "message",
                            new JsonObject()
                                .put("role", "assistant")
                                .put("content", "Hello there, five words exactly."))
                        .put("finish_reason", "stop")))
        .put(
            "usage",
            new JsonObject()
                .put("prompt_tokens", 14)
                .put("completion_tokens", 8)
                .put("total_tokens", 22))
        .encode();
  }

  static String cannedStream(int chunks) {
    StringBuilder sb = new StringBuilder();
    for (int i = 0; i < chunks; i++) {
      JsonObject delta = i == 0 ? new JsonObject().put("role", "assistant") : new JsonObject();
      delta.put("content", " tok");
      JsonObject c =
          new JsonObject()
              .put("id", "chatcmpl-canned")
              .put("object", "chat.completion.chunk")
              .put("created", 1700000000)
              .put("model", MODEL)
              .put(
                  "choices",
                  new JsonArray()
                      .add(
                          new JsonObject()
                              .put("index", 0)
                              .put("delta", delta)
                              .put("finish_reason", i == chunks - 1 ? "length" : null)));
      sb.append("data: ").append(c.encode()).append("\n\n");
    }
    return sb.append("data: [DONE]\n\n").toString();
  }
}
