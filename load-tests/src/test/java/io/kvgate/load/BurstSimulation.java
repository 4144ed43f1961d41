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
 * A burst/spike profile: a baseline of {@code rate}/s, then {@code users} arrivals within two
 * seconds (a traffic spike, as when a batch job or a retry storm hits), then the baseline again so
 * recovery is visible in the report. Load accounted at dispatch keeps the spike from piling onto
 * one replica. Fails on errors above {@code maxErrorPercent} or p95 above {@code p95Millis}.
 */
public class BurstSimulation extends Simulation {

  private final LoadSettings s = LoadSettings.fromSystemProperties();
  private final Prompts prompts = new Prompts(s.tenants(), s.systemPromptChars());
  private final SplittableRandom random = new SplittableRandom(99);

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
            false);
    return Map.of("body", body);
  }

  private final HttpProtocolBuilder protocol =
      http.baseUrl(s.baseUrl())
          .contentTypeHeader("application/json")
          .acceptHeader("application/json")
          .authorizationHeader("Bearer " + s.apiKey());

  private final ScenarioBuilder chat =
      scenario("burst chat")
          .feed(feeder)
          .exec(
              http("chat")
                  .post("/v1/chat/completions")
                  .body(StringBody(session -> session.getString("body")))
                  .check(status().is(200), jsonPath("$.choices[0].message.content").exists()));

  {
    int phase = Math.max(1, s.durationSeconds() / 3);
    setUp(
            chat.injectOpen(
                constantUsersPerSec(s.rate()).during(phase),
                stressPeakUsers(s.users()).during(2),
                constantUsersPerSec(s.rate()).during(phase)))
        .protocols(protocol)
        .assertions(
            global().failedRequests().percent().lte(s.maxErrorPercent()),
            global().responseTime().percentile(95.0).lte(s.p95Millis()));
  }
}
