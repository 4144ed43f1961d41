package io.kvgate.gateway;

import io.vertx.core.Vertx;
import java.util.concurrent.TimeUnit;

/**
 * Lets pending event-loop work run before a test thread looks again (a round trip through the
 * loop).
 */
final class CompletableFutureSupport {

  private CompletableFutureSupport() {}

  /**
   * Completes after a 50 ms Vert.x timer fires: a bounded wait on the event loop, not a sleep on
   * the test thread's guess.
   */
  static void yieldTo(Vertx vertx) throws Exception {
    io.vertx.core.Promise<Void> p = io.vertx.core.Promise.promise();
    vertx.setTimer(50, t -> p.complete());
    p.future().toCompletionStage().toCompletableFuture().get(5, TimeUnit.SECONDS);
  }
}
