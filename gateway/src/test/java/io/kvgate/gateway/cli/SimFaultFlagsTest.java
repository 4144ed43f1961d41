package io.kvgate.gateway.cli;

import static io.kvgate.gateway.TestSupport.*;
import static org.junit.jupiter.api.Assertions.*;

import io.kvgate.sim.SimEngineConfig;
import io.kvgate.sim.SimFleet;
import io.vertx.core.Vertx;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import picocli.CommandLine;

/**
 * {@code kvgate sim --error-rate} and {@code --hang-before-first-byte} make half-working engines:
 * {@code /health} answers 200 while completions fail or never come.
 */
class SimFaultFlagsTest {

  private static SimEngineConfig.Faults faults(String... args) {
    SimCommand c = new SimCommand();
    new CommandLine(c).parseArgs(args);
    return c.faults();
  }

  private static HttpResponse<String> complete(String url, Duration timeout) throws Exception {
    return HTTP.send(
        HttpRequest.newBuilder(URI.create(url + "/v1/chat/completions"))
            .timeout(timeout)
            .header("content-type", "application/json")
            .POST(HttpRequest.BodyPublishers.ofString(chat("m", "hello there", 2, false)))
            .build(),
        HttpResponse.BodyHandlers.ofString());
  }

  private static int health(String url) throws Exception {
    return HTTP.send(
            HttpRequest.newBuilder(URI.create(url + "/health")).GET().build(),
            HttpResponse.BodyHandlers.ofString())
        .statusCode();
  }

  @Test
  void faultFlagsMakeHalfWorkingEngines() throws Exception {
    assertEquals(SimEngineConfig.Faults.NONE, faults());
    Vertx vertx = Vertx.vertx();
    try {
      SimEngineConfig base = SimEngineConfig.defaults().toBuilder().model("m").speed(1000).build();
      SimFleet failing =
          await(SimFleet.start(vertx, base.withFaults(faults("--error-rate", "0.5")), 1, 0));
      SimFleet hanging =
          await(
              SimFleet.start(
                  vertx, base.withFaults(faults("--hang-before-first-byte", "1h")), 1, 0));
      String f = failing.urls().get(0);
      int failed = 0;
      for (int i = 0; i < 100; i++) {
        int status = complete(f, Duration.ofSeconds(10)).statusCode();
        assertTrue(status == 200 || status == 500, "status " + status);
        if (status == 500) failed++;
      }
      assertTrue(failed >= 30 && failed <= 70, failed + " of 100 failed at --error-rate 0.5");
      assertEquals(200, health(f), "the failing engine passes /health");
      String h = hanging.urls().get(0);
      assertThrows(HttpTimeoutException.class, () -> complete(h, Duration.ofMillis(300)));
      assertEquals(200, health(h), "the hanging engine passes /health");
      await(failing.close());
      await(hanging.close());
    } finally {
      await(vertx.close());
    }
  }

  @Test
  @Timeout(value = 30, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
  void badFaultFlagsAreRefusedBeforeAnyEngineStarts() {
    String err =
        CliTest.captureErr(
            () ->
                assertEquals(
                    2,
                    Main.run("sim", "--replicas", "1", "--base-port", "0", "--error-rate", "1.5")));
    assertTrue(err.contains("--error-rate must be between 0 and 1"), err);
    err =
        CliTest.captureErr(
            () ->
                assertEquals(
                    2,
                    Main.run(
                        "sim",
                        "--replicas",
                        "1",
                        "--base-port",
                        "0",
                        "--hang-before-first-byte",
                        "soon")));
    assertTrue(err.contains("--hang-before-first-byte must be a duration"), err);
  }
}
