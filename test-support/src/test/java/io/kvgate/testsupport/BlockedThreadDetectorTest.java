package io.kvgate.testsupport;

import static org.junit.jupiter.api.Assertions.*;

import io.vertx.core.Vertx;
import io.vertx.core.VertxOptions;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * The guard against real Vert.x: an event loop blocked past its limit is reported with its thread
 * and stack, and the guard turns that into a failure. This module does not enable the guard itself
 * (no autodetection here), so blocking on purpose does not fail the suite.
 */
class BlockedThreadDetectorTest {

  @Test
  void aBlockedEventLoopIsReportedAndFailsTheGuard() throws Exception {
    // A short limit so that the test blocks a loop for ~100 ms, not the default 2 s.
    Vertx vertx =
        Vertx.vertx(
            new VertxOptions()
                .setMaxEventLoopExecuteTime(100)
                .setMaxEventLoopExecuteTimeUnit(TimeUnit.MILLISECONDS)
                .setBlockedThreadCheckInterval(20)
                .setBlockedThreadCheckIntervalUnit(TimeUnit.MILLISECONDS));
    try (BlockedThreadDetector detector = BlockedThreadDetector.install()) {
      BlockedEventLoopGuard guard = new BlockedEventLoopGuard(detector);
      guard.check("nothing yet");

      // The event loop blocks until the detector has seen it blocked: no sleep, no fixed time.
      CompletableFuture<Boolean> seen = new CompletableFuture<>();
      vertx.runOnContext(v -> seen.complete(blockUntilReported(detector)));
      assertTrue(seen.get(30, TimeUnit.SECONDS), "no blocked-thread warning within 10 s");

      AssertionError failure = assertThrows(AssertionError.class, () -> guard.check("the test"));
      String message = failure.getMessage();
      assertTrue(message.contains("blocked thread during the test"), message);
      assertTrue(message.contains("Thread vert.x-eventloop-thread-"), message);
      assertTrue(message.contains("time limit is 100 ms"), message);
      // The stack excerpt shows where the loop was stuck.
      assertTrue(message.contains("BlockedThreadDetectorTest.blockUntilReported"), message);

      // Drained: the next test starts clean.
      guard.check("the next test");
      assertEquals(List.of(), detector.drain());
    } finally {
      vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }
  }

  private static boolean blockUntilReported(BlockedThreadDetector detector) {
    try {
      return detector.awaitReport(Duration.ofSeconds(10));
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return false;
    }
  }
}
