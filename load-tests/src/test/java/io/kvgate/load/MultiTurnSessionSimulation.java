package io.kvgate.load;

import static io.gatling.javaapi.core.CoreDsl.*;
import static io.gatling.javaapi.http.HttpDsl.*;

import io.gatling.javaapi.core.ScenarioBuilder;
import io.gatling.javaapi.core.Session;
import io.gatling.javaapi.core.Simulation;
import io.gatling.javaapi.http.HttpProtocolBuilder;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Multi-turn sessions that grow: each virtual user is one conversation of {@code turns} turns.
 * Every turn re-sends the whole history (system prompt, earlier questions and the answers the
 * gateway returned) plus a new question, so each request extends the previous one's prompt: the
 * pattern that makes session-sticky, cache-aware routing pay. Users arrive at {@code rate}/s.
 *
 * <p>The {@code x-session-id} header carries the conversation id, as clients of session-affinity
 * routers send it. Fails the run on errors above {@code maxErrorPercent} or p95 above {@code
 * p95Millis}.
 */
public class MultiTurnSessionSimulation extends Simulation {

  private final LoadSettings s = LoadSettings.fromSystemProperties();
  private final Prompts prompts = new Prompts(s.tenants(), s.systemPromptChars());
  private final AtomicLong conversations = new AtomicLong();

  private final HttpProtocolBuilder protocol =
      http.baseUrl(s.baseUrl())
          .contentTypeHeader("application/json")
          .acceptHeader("application/json")
          .authorizationHeader("Bearer " + s.apiKey());

  private Session startConversation(Session session) {
    long id = conversations.incrementAndGet();
    return session
        .set("conversation", id)
        .set("tenant", (int) (id % prompts.tenants()))
        .set("history", List.<String[]>of());
  }

  private Session nextQuestion(Session session) {
    List<String[]> history = new ArrayList<>(session.<List<String[]>>get("history"));
    long id = session.getLong("conversation");
    history.add(new String[] {"user", Prompts.question(id * 1000 + history.size())});
    return session
        .set("history", List.copyOf(history))
        .set(
            "body",
            prompts.chatBody(s.model(), session.getInt("tenant"), history, s.maxTokens(), false));
  }

  private Session rememberAnswer(Session session) {
    List<String[]> history = new ArrayList<>(session.<List<String[]>>get("history"));
    history.add(new String[] {"assistant", session.getString("answer")});
    return session.set("history", List.copyOf(history));
  }

  private final ScenarioBuilder conversation =
      scenario("multi-turn session")
          .exec(this::startConversation)
          .repeat(s.turns(), "turn")
          .on(
              exec(this::nextQuestion)
                  .exec(
                      http("turn #{turn}")
                          .post("/v1/chat/completions")
                          .header(
                              "x-session-id", session -> "conv-" + session.getLong("conversation"))
                          .body(StringBody(session -> session.getString("body")))
                          .check(
                              status().is(200),
                              jsonPath("$.choices[0].message.content").saveAs("answer")))
                  .exitHereIfFailed()
                  .exec(this::rememberAnswer));

  {
    setUp(conversation.injectOpen(constantUsersPerSec(s.rate()).during(s.durationSeconds())))
        .protocols(protocol)
        .assertions(
            global().failedRequests().percent().lte(s.maxErrorPercent()),
            global().responseTime().percentile(95.0).lte(s.p95Millis()));
  }
}
