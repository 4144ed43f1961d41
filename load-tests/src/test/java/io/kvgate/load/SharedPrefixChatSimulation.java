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
 * Steady chat traffic with shared system prompts: {@code tenants} tenants, each with a long system
 * prompt, receive short single-turn questions at {@code rate} requests/s (open model) for {@code
 * durationSeconds}. A cache-aware router keeps each tenant's prompt hot on one replica.
 *
 * <p>Fails the run if more than {@code maxErrorPercent} of requests fail or the p95 response time
 * exceeds {@code p95Millis}.
 */
public class SharedPrefixChatSimulation extends Simulation {

  private final LoadSettings s = LoadSettings.fromSystemProperties();
  private final Prompts prompts = new Prompts(s.tenants(), s.systemPromptChars());
  private final SplittableRandom random = new SplittableRandom(42);

  private final Iterator<Map<String, Object>> feeder = Stream.generate(this::next).iterator();

  private synchronized Map<String, Object> next() {
    int tenant = random.nextInt(prompts.tenants());
    long q = random.nextLong(1_000_000_000L);
    String body =
        prompts.chatBody(
            s.model(),
            tenant,
            List.<String[]>of(new String[] {"user", Prompts.question(q)}),
            s.maxTokens(),
            false);
    return Map.of("body", body);
  }

  private final HttpProtocolBuilder protocol =
      http.baseUrl(s.baseUrl())
          .contentTypeHeader("application/json")
          .acceptHeader("application/json")
          .authorizationHeader("Bearer " + s.apiKey());

  private final ScenarioBuilder chat =
      scenario("shared-prefix chat")
          .feed(feeder)
          .exec(
              http("chat")
                  .post("/v1/chat/completions")
                  .body(StringBody(session -> session.getString("body")))
                  .check(
                      status().is(200),
                      jsonPath("$.choices[0].message.content").exists(),
                      jsonPath("$.usage.prompt_tokens").ofInt().gt(0)));

  {
    setUp(chat.injectOpen(constantUsersPerSec(s.rate()).during(s.durationSeconds())))
        .protocols(protocol)
        .assertions(
            global().failedRequests().percent().lte(s.maxErrorPercent()),
            global().responseTime().percentile(95.0).lte(s.p95Millis()));
  }
}
