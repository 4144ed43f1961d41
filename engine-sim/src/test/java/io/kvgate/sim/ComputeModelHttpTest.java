package io.kvgate.sim;

import static org.junit.jupiter.api.Assertions.*;

import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpClient;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.PoolOptions;
import io.vertx.core.http.RequestOptions;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The compute model seen from a client, in wall time. Margins rely on one fact: the engine never
 * emits a token before its simulated time has passed (wall time x speed), so lower bounds are exact
 * and only upper bounds can be disturbed by a busy machine; each assertion leaves a wide gap.
 */
class ComputeModelHttpTest {

  private static Vertx vertx;
  private static HttpClient client;

  /** 10k prefill tokens/s at speed 5: a 4000-token prompt costs 400 ms simulated, 80 ms wall. */
  private static final SimEngineConfig CONFIG =
      SimEngineConfig.builder()
          .prefillTokensPerSecond(10_000)
          .maxNumBatchedTokens(2048)
          .speed(5)
          .build();

  private static final long LONE_PREFILL_WALL_MS = 80;

  @BeforeAll
  static void setUp() {
    vertx = Vertx.vertx();
    client = vertx.createHttpClient(new HttpClientOptions(), new PoolOptions().setHttp1MaxSize(16));
  }

  @AfterAll
  static void tearDown() {
    client.close().await();
    vertx.close().await();
  }

  /** Sends a streaming chat request; completes with wall-clock nanos to the first body byte. */
  private static Future<Long> ttft(SimEngine e, String content) {
    String body =
        "{\"model\":\"kvgate-sim-8b\",\"stream\":true,\"max_tokens\":2,\"messages\":[{\"role\":\"user\",\"content\":\""
            + content
            + "\"}]}";
    long start = System.nanoTime();
    Promise<Long> first = Promise.promise();
    return client
        .request(
            new RequestOptions()
                .setMethod(HttpMethod.POST)
                .setHost("127.0.0.1")
                .setPort(e.port())
                .setURI("/v1/chat/completions"))
        .compose(req -> req.send(body))
        .compose(
            resp -> {
              resp.handler(b -> first.tryComplete(System.nanoTime() - start));
              return resp.end();
            })
        .compose(v -> first.future());
  }

  private static long ms(Future<Long> f) throws Exception {
    return f.await(30, TimeUnit.SECONDS) / 1_000_000;
  }

  private static String prompt(int seed) {
    // 16000 chars = 4000 tokens; the seed goes first so prompts share no block
    return ("p" + seed + " ")
        .repeat(1)
        .concat("z".repeat(16_000 - 3 - Integer.toString(seed).length()));
  }

  @Test
  void cachedPrefixCutsTimeToFirstToken() throws Exception {
    SimEngine e = SimEngine.start(vertx, CONFIG).await(10, TimeUnit.SECONDS);
    try {
      long cold = ms(ttft(e, prompt(1)));
      long warm = ms(ttft(e, prompt(1)));
      assertTrue(cold >= LONE_PREFILL_WALL_MS, "cold " + cold + " ms");
      assertTrue(warm * 2 < cold, "warm " + warm + " ms vs cold " + cold + " ms");
      assertTrue(e.stats().cachedTokens() > 3900);
    } finally {
      e.close().await();
    }
  }

  @Test
  void simultaneousPrefillsQueueSoTheEighthWaits() throws Exception {
    SimEngine e = SimEngine.start(vertx, CONFIG).await(10, TimeUnit.SECONDS);
    try {
      long lone = ms(ttft(e, prompt(100)));
      List<Future<Long>> burst = new ArrayList<>();
      for (int i = 0; i < 8; i++) burst.add(ttft(e, prompt(200 + i)));
      Future.all(burst).await(30, TimeUnit.SECONDS);
      long slowest = 0;
      for (Future<Long> f : burst) slowest = Math.max(slowest, f.result() / 1_000_000);
      assertTrue(slowest >= 7 * LONE_PREFILL_WALL_MS, "8th of 8 took " + slowest + " ms");
      assertTrue(slowest > 2 * lone, "8th of 8 " + slowest + " ms vs lone " + lone + " ms");
    } finally {
      e.close().await();
    }
  }
}
