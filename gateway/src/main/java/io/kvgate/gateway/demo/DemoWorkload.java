package io.kvgate.gateway.demo;

import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpClient;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.PoolOptions;
import io.vertx.core.http.RequestOptions;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The built-in traffic of {@code kvgate demo --traffic}: a multi-tenant, multi-turn chat workload.
 *
 * <p>{@code tenants} tenants each own a long system prompt (a tool schema or policy document in
 * real life). {@code conversations} conversations run concurrently, closed loop: each picks a
 * tenant (skewed: tenant 0 is the busiest), asks {@code 2..maxTurns} questions, each turn
 * re-sending the whole history with the answers the gateway streamed back, then starts over as a
 * new conversation. So every request shares the tenant's prompt with its siblings and, from the
 * second turn on, its own previous turn with itself: the two kinds of prefix reuse a cache-aware
 * router keeps.
 *
 * <p>Runs on the given Vert.x instance's event loop; never blocks. Each finished request is
 * reported to a {@link DemoStats} with the endpoint that served it (the {@code x-kvgate-endpoint}
 * header) and its time to first token.
 */
public final class DemoWorkload {

  private static final String[] WORDS = {
    "replica", "prefill", "decode", "tensor", "cache", "block", "router", "latency", "token",
        "batch",
    "gateway", "cluster", "region", "policy", "stream", "engine", "queue", "budget", "schema",
        "tool"
  };

  private final Vertx vertx;
  private final HttpClient client;
  private final String host;
  private final int[] ports;
  private final AtomicLong requestSeq = new AtomicLong();
  private final String model;
  private final DemoStats stats;
  private final List<String> systemPrompts = new ArrayList<>();
  private final int maxTurns;
  private final int maxTokens;
  private final SplittableRandom random = new SplittableRandom(2026);
  private final AtomicBoolean running = new AtomicBoolean();
  private final AtomicLong conversationSeq = new AtomicLong();

  /**
   * @param systemPromptChars length of each tenant's system prompt in characters (about 4 per
   *     token)
   */
  public DemoWorkload(
      Vertx vertx,
      String host,
      int port,
      String model,
      DemoStats stats,
      int tenants,
      int systemPromptChars,
      int maxTurns,
      int maxTokens) {
    this(vertx, host, List.of(port), model, stats, tenants, systemPromptChars, maxTurns, maxTokens);
  }

  /**
   * As above, in front of several gateways (a cluster behind no load balancer): request {@code i}
   * goes to {@code ports[i mod n]}, so consecutive turns of one conversation land on different
   * gateways, as behind a round-robin VIP.
   */
  public DemoWorkload(
      Vertx vertx,
      String host,
      List<Integer> ports,
      String model,
      DemoStats stats,
      int tenants,
      int systemPromptChars,
      int maxTurns,
      int maxTokens) {
    this.vertx = vertx;
    this.host = host;
    this.ports = ports.stream().mapToInt(Integer::intValue).toArray();
    this.model = model;
    this.stats = stats;
    this.maxTurns = Math.max(2, maxTurns);
    this.maxTokens = maxTokens;
    this.client =
        vertx.createHttpClient(
            new HttpClientOptions().setKeepAlive(true), new PoolOptions().setHttp1MaxSize(256));
    for (int t = 0; t < tenants; t++) {
      systemPrompts.add(
          text(
              new SplittableRandom(1_000 + t),
              "You are the support assistant of tenant " + t + ". Follow this handbook. ",
              systemPromptChars));
    }
  }

  /** Starts {@code conversations} concurrent conversations; they run until {@link #stop()}. */
  public void start(int conversations) {
    running.set(true);
    for (int i = 0; i < conversations; i++) vertx.runOnContext(v -> newConversation());
  }

  public void stop() {
    running.set(false);
  }

  private void newConversation() {
    if (!running.get()) return;
    int tenant;
    int turns;
    long id = conversationSeq.incrementAndGet();
    synchronized (random) {
      // Skewed popularity: half the conversations belong to the first third of the tenants.
      int hot = Math.max(1, systemPrompts.size() / 3);
      tenant = random.nextBoolean() ? random.nextInt(hot) : random.nextInt(systemPrompts.size());
      turns = 2 + random.nextInt(maxTurns - 1);
    }
    JsonArray history =
        new JsonArray()
            .add(new JsonObject().put("role", "system").put("content", systemPrompts.get(tenant)));
    turn(id, history, 1, turns);
  }

  private void turn(long conversation, JsonArray history, int turn, int turns) {
    if (!running.get()) return;
    history.add(
        new JsonObject()
            .put("role", "user")
            .put(
                "content",
                "Conversation "
                    + conversation
                    + ", question "
                    + turn
                    + ": "
                    + text(new SplittableRandom(conversation * 31 + turn), "", 240)));
    JsonObject body =
        new JsonObject()
            .put("model", model)
            .put("messages", history)
            .put("max_tokens", maxTokens)
            .put("stream", true)
            .put("stream_options", new JsonObject().put("include_usage", true));
    long start = System.nanoTime();
    StringBuilder answer = new StringBuilder();
    long[] firstToken = {-1};
    String[] streamError = {null};
    client
        .request(
            new RequestOptions()
                .setMethod(HttpMethod.POST)
                .setHost(host)
                .setPort(ports[(int) (requestSeq.getAndIncrement() % ports.length)])
                .setURI("/v1/chat/completions")
                .putHeader("content-type", "application/json")
                .putHeader("x-session-id", "demo-" + conversation))
        .compose(req -> req.send(body.toBuffer()))
        .compose(
            resp -> {
              String endpoint = resp.getHeader("x-kvgate-endpoint");
              if (resp.statusCode() != 200) {
                return resp.body()
                    .map(
                        b -> {
                          stats.recordError(endpoint, resp.statusCode() + " " + b.toString());
                          return false;
                        });
              }
              SseLines lines =
                  new SseLines(
                      data -> {
                        if (data.startsWith("{")) {
                          JsonObject chunk = new JsonObject(data);
                          JsonObject error = chunk.getJsonObject("error");
                          if (error != null) streamError[0] = error.getString("message");
                          JsonArray choices = chunk.getJsonArray("choices");
                          if (choices != null && !choices.isEmpty()) {
                            JsonObject delta = choices.getJsonObject(0).getJsonObject("delta");
                            String content = delta == null ? null : delta.getString("content");
                            if (content != null && !content.isEmpty()) {
                              if (firstToken[0] < 0) firstToken[0] = System.nanoTime();
                              answer.append(content);
                            }
                          }
                        }
                      });
              resp.handler(lines::feed);
              return resp.end()
                  .map(
                      v -> {
                        if (streamError[0] != null) {
                          // The response started, then ended with an OpenAI error event.
                          stats.recordMidStreamError(endpoint, streamError[0]);
                          return false;
                        }
                        long ttft = (firstToken[0] < 0 ? System.nanoTime() : firstToken[0]) - start;
                        stats.recordRequest(endpoint, ttft, System.nanoTime() - start);
                        return true;
                      });
            })
        .onComplete(
            ar -> {
              boolean ok = ar.succeeded() && ar.result();
              if (ar.failed()) stats.recordError(null, ar.cause().toString());
              if (ok && turn < turns) {
                history.add(
                    new JsonObject().put("role", "assistant").put("content", answer.toString()));
                turn(conversation, history, turn + 1, turns);
              } else {
                // A failed turn ends its conversation; back off a little so a dead fleet doesn't
                // spin.
                if (ok) newConversation();
                else vertx.setTimer(200, t -> newConversation());
              }
            });
  }

  /** Closes the HTTP client. */
  public void close() {
    stop();
    client.close();
  }

  static String text(SplittableRandom r, String head, int chars) {
    StringBuilder sb = new StringBuilder(chars + 16).append(head);
    while (sb.length() < chars) sb.append(WORDS[r.nextInt(WORDS.length)]).append(' ');
    sb.setLength(Math.max(head.length(), chars));
    return sb.toString();
  }

  /** Splits an SSE byte stream into {@code data:} payloads. */
  static final class SseLines {
    private final java.util.function.Consumer<String> onData;
    private final StringBuilder pending = new StringBuilder();

    SseLines(java.util.function.Consumer<String> onData) {
      this.onData = onData;
    }

    void feed(Buffer chunk) {
      pending.append(chunk.toString());
      int nl;
      while ((nl = pending.indexOf("\n")) >= 0) {
        String line = pending.substring(0, nl).trim();
        pending.delete(0, nl + 1);
        if (line.startsWith("data:")) onData.accept(line.substring(5).trim());
      }
    }
  }
}
