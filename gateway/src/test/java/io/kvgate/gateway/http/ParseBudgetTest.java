package io.kvgate.gateway.http;

import static io.kvgate.gateway.TestSupport.await;
import static io.kvgate.gateway.TestSupport.eventually;
import static org.junit.jupiter.api.Assertions.*;

import io.kvgate.gateway.openai.OpenAiException;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import java.time.Duration;
import java.util.concurrent.ExecutionException;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The parse budget's queue: first come first served, oversized bodies alone, timeouts. */
class ParseBudgetTest {

  Vertx vertx;

  @BeforeEach
  void start() {
    vertx = Vertx.vertx();
  }

  @AfterEach
  void stop() throws Exception {
    await(vertx.close());
  }

  @Test
  void waitersAreServedInOrderAndASmallOneDoesNotJumpTheQueue() throws Exception {
    ParseBudget b = new ParseBudget(vertx, 100, Duration.ofSeconds(20));
    ParseBudget.Permit first = await(b.acquire(60));
    Future<ParseBudget.Permit> large = b.acquire(50);
    Future<ParseBudget.Permit> small = b.acquire(10);
    assertEquals(2, b.waiting());
    assertFalse(small.isComplete(), "10 bytes would fit, but a larger body came first");
    first.release();
    first.release(); // a second release is ignored
    ParseBudget.Permit l = await(large);
    ParseBudget.Permit s = await(small);
    assertEquals(60, b.inUseBytes());
    assertEquals(0, b.waiting());

    // Larger than the budget: charged the whole budget, so it waits until it can parse alone.
    Future<ParseBudget.Permit> huge = b.acquire(10_000);
    l.release();
    assertFalse(huge.isComplete());
    s.release();
    ParseBudget.Permit h = await(huge);
    assertEquals(100, b.inUseBytes());
    h.release();
    assertEquals(0, b.inUseBytes());
  }

  @Test
  void aWaiterIsRefusedAfterTheQueueTimeout() throws Exception {
    ParseBudget b = new ParseBudget(vertx, 100, Duration.ofMillis(200));
    ParseBudget.Permit held = await(b.acquire(90));
    Future<ParseBudget.Permit> blocked = b.acquire(50);
    ExecutionException e = assertThrows(ExecutionException.class, () -> await(blocked));
    OpenAiException busy = assertInstanceOf(OpenAiException.class, e.getCause());
    assertEquals(503, busy.status());
    assertEquals("server_busy", busy.code());
    assertTrue(busy.getMessage().contains("200ms"), busy.getMessage());
    assertEquals(1, b.timedOut());
    assertEquals(1, b.retryAfterSeconds());
    eventually("the refused waiter left the queue", () -> b.waiting() == 0);
    held.release();
    assertEquals(0, b.inUseBytes());
  }
}
