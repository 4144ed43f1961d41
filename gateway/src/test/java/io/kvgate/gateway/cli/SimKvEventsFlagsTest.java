package io.kvgate.gateway.cli;

import static org.junit.jupiter.api.Assertions.*;

import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/**
 * {@code kvgate sim --publish-kv-events HOST:PORT} and its companions: what they ask the engines
 * for, and the refusals.
 */
class SimKvEventsFlagsTest {

  private static SimCommand parse(String... args) {
    SimCommand c = new SimCommand();
    new CommandLine(c).parseArgs(args);
    return c;
  }

  private static String refusal(String... args) {
    return assertThrows(IllegalArgumentException.class, () -> parse(args).kvEvents()).getMessage();
  }

  @Test
  void noPublishingWithoutTheFlag() {
    assertNull(parse("--replicas", "2").kvEvents());
  }

  @Test
  void targetEndpointsAndIntervalsReachTheOptions() {
    SimCommand.KvEvents k =
        parse(
                "--replicas",
                "2",
                "--publish-kv-events",
                "127.0.0.1:9090",
                "--kv-events-endpoint",
                "a,b",
                "--kv-events-interval",
                "5ms",
                "--kv-events-load-interval",
                "1s")
            .kvEvents();
    assertEquals("127.0.0.1:9090", k.target());
    assertEquals(List.of("a", "b"), k.endpoints());
    assertEquals(Duration.ofMillis(5), k.options().batchInterval());
    assertEquals(Duration.ofSeconds(1), k.options().loadInterval());
    SimCommand.KvEvents defaults = parse("--publish-kv-events", "localhost:1").kvEvents();
    assertNull(defaults.endpoints(), "each engine's URL");
    assertEquals(Duration.ofMillis(20), defaults.options().batchInterval());
    assertEquals(Duration.ofMillis(100), defaults.options().loadInterval());
  }

  @Test
  void refusesBadTargetsNamesIntervalsAndCompanionsAlone() {
    assertTrue(refusal("--publish-kv-events", "9090").contains("HOST:PORT"));
    assertTrue(refusal("--publish-kv-events", "h:70000").contains("HOST:PORT"));
    assertTrue(
        refusal("--replicas", "3", "--publish-kv-events", "h:1", "--kv-events-endpoint", "a,b")
            .contains("one non-empty name per replica"));
    assertTrue(
        refusal("--publish-kv-events", "h:1", "--kv-events-interval", "0ms")
            .contains("--kv-events-interval"));
    assertTrue(
        refusal("--publish-kv-events", "h:1", "--kv-events-load-interval", "soon")
            .contains("--kv-events-load-interval"));
    assertTrue(refusal("--kv-events-interval", "5ms").contains("need --publish-kv-events"));
    assertTrue(refusal("--kv-events-endpoint", "a").contains("need --publish-kv-events"));
  }
}
