package io.kvgate.load;

import static io.gatling.javaapi.core.CoreDsl.*;
import static io.gatling.javaapi.http.HttpDsl.*;

import io.gatling.javaapi.core.ScenarioBuilder;
import io.gatling.javaapi.core.Simulation;
import io.gatling.javaapi.http.HttpProtocolBuilder;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.stream.Stream;

/**
 * Streaming chat with time-to-first-token checks. Each request opens an SSE stream; the check
 * {@code first token} completes when the first chunk carrying generated text arrives, so its
 * response time in the report IS the TTFT seen through the gateway; {@code done} waits for {@code
 * [DONE]}. Fails the run if TTFT p95 exceeds {@code ttftP95Millis} or errors exceed {@code
 * maxErrorPercent}.
 */
public class StreamingTtftSimulation extends Simulation {

  private final LoadSettings s = LoadSettings.fromSystemProperties();
  private final Prompts prompts = new Prompts(s.tenants(), s.systemPromptChars());
  private final SplittableRandom random = new SplittableRandom(7);

  private final Iterator<Map<String, Object>> feeder = Stream.generate(this::next).iterator();

  private synchronized Map<String, Object> next() {
    int tenant = random.nextInt(prompts.tenants());
    String body =
        prompts.chatBody(
            s.model(),
            tenant,
            List.<String[]>of(
                new String[] {"user", Prompts.question(random.nextLong(1_000_000_000L))}),
            s.maxTokens(),
            true);
    return Map.of("body", body);
  }

  private final HttpProtocolBuilder protocol =
      http.baseUrl(s.baseUrl())
          .contentTypeHeader("application/json")
          .authorizationHeader("Bearer " + s.apiKey());

  private final ScenarioBuilder stream =
      scenario("streaming chat")
          .feed(feeder)
          .exec(
              sse("stream")
                  .post("/v1/chat/completions")
                  .header("accept", "text/event-stream")
                  .body(StringBody(session -> session.getString("body")))
                  .await(60)
                  .on(
                      sse.checkMessage("first token")
                          .matching(regex("\"content\":\"[^\"]"))
                          .check(regex("\"content\":\"[^\"]"))))
          .exec(
              sse("stream")
                  .setCheck()
                  .await(120)
                  .on(
                      sse.checkMessage("done")
                          .matching(substring("[DONE]"))
                          .check(substring("[DONE]"))))
          .exec(sse("stream").close());

  {
    setUp(stream.injectOpen(constantUsersPerSec(s.rate()).during(s.durationSeconds())))
        .protocols(protocol)
        .assertions(
            global().failedRequests().percent().lte(s.maxErrorPercent()),
            details("first token").responseTime().percentile(95.0).lte(s.ttftP95Millis()));
  }
}
