package io.kvgate.gateway.config;

import static org.junit.jupiter.api.Assertions.*;

import io.kvgate.routing.Role;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

class GatewayConfigLoaderTest {

  @Test
  void theShippedExampleLoads() throws Exception {
    GatewayConfig c = GatewayConfigLoader.load(Path.of("../config/gateway.yaml"));
    assertEquals(1, c.models().size());
    assertEquals(4, c.models().get(0).endpoints().size());
    assertEquals("127.0.0.1:9000", c.models().get(0).endpoints().get(0).id());
    assertEquals("dev-1", c.models().get(0).endpoints().get(0).label("region"));
    assertEquals(Duration.ofSeconds(300), c.timeouts().firstByte());
    assertEquals(64, c.routing().blockSizeChars());
  }

  @Test
  void everyProblemIsReportedWithItsPath() {
    String yaml =
        """
        listener: {port: 99999, hots: x}
        models:
          - name: a
            endpoints:
              - url: ftp://nope
              - url: http://h:1
                role: sideways
                weight: -1
                labels: {region: [1]}
          - name: a
            endpoints: []
        timeouts: {connect: soon}
        limits: {maxAttempts: 0}
        extra: 1
        """;
    ConfigException e =
        assertThrows(ConfigException.class, () -> GatewayConfigLoader.parse(yaml, "t.yaml"));
    List<String> p = e.problems();
    assertTrue(p.contains("listener.port: must be between 0 and 65535 (got 99999)"), p.toString());
    assertTrue(p.stream().anyMatch(s -> s.startsWith("listener.hots: unknown key")), p.toString());
    assertTrue(
        p.stream()
            .anyMatch(s -> s.startsWith("models[0].endpoints[0].url: must be an absolute http")),
        p.toString());
    assertTrue(
        p.stream()
            .anyMatch(
                s ->
                    s.startsWith(
                        "models[0].endpoints[1].role: must be one of both, prefill, decode")),
        p.toString());
    assertTrue(
        p.stream().anyMatch(s -> s.startsWith("models[0].endpoints[1].weight: must be > 0")),
        p.toString());
    assertTrue(
        p.stream()
            .anyMatch(s -> s.startsWith("models[0].endpoints[1].labels.region: must be a string")),
        p.toString());
    assertTrue(
        p.stream().anyMatch(s -> s.startsWith("models[1].name: duplicate model 'a'")),
        p.toString());
    assertTrue(
        p.stream()
            .anyMatch(s -> s.startsWith("models[1].endpoints: must list at least one endpoint")),
        p.toString());
    assertTrue(
        p.stream().anyMatch(s -> s.startsWith("timeouts.connect: must be a duration")),
        p.toString());
    assertTrue(
        p.stream().anyMatch(s -> s.startsWith("limits.maxAttempts: must be between 1 and 10")),
        p.toString());
    assertTrue(p.stream().anyMatch(s -> s.startsWith("extra: unknown key")), p.toString());
  }

  @Test
  void routingKnobsLoadAndDefault() throws Exception {
    String yaml =
        """
        models: [{name: a, endpoints: [{url: "http://h:1"}]}]
        routing: {segmentCacheBytes: 1048576, exactMatch: true}
        """;
    GatewayConfig c = GatewayConfigLoader.parse(yaml, "t.yaml");
    assertEquals(1 << 20, c.routing().segmentCacheBytes());
    assertTrue(c.routing().exactMatch());
    GatewayConfig d =
        GatewayConfigLoader.parse(
            "models: [{name: a, endpoints: [{url: \"http://h:1\"}]}]", "t.yaml");
    assertEquals(64L << 20, d.routing().segmentCacheBytes());
    assertFalse(d.routing().exactMatch());
    ConfigException e =
        assertThrows(
            ConfigException.class,
            () ->
                GatewayConfigLoader.parse(
                    "models: [{name: a, endpoints: [{url: \"http://h:1\"}]}]\nrouting: {segmentCacheBytes: 0, exactMatch: maybe}",
                    "t.yaml"));
    assertTrue(
        e.problems().stream().anyMatch(s -> s.startsWith("routing.segmentCacheBytes:")),
        e.problems().toString());
    assertTrue(
        e.problems().stream().anyMatch(s -> s.startsWith("routing.exactMatch:")),
        e.problems().toString());
  }

  @Test
  void eventLoopsLoadAndAreChecked() throws Exception {
    GatewayConfig c =
        GatewayConfigLoader.parse(
            "models: [{name: a, endpoints: [{url: \"http://h:1\"}]}]\nlistener: {port: 9, eventLoops: 6}",
            "t.yaml");
    assertEquals(6, c.listener().eventLoops());
    ConfigException e =
        assertThrows(
            ConfigException.class,
            () ->
                GatewayConfigLoader.parse(
                    "models: [{name: a, endpoints: [{url: \"http://h:1\"}]}]\nlistener: {eventLoops: 0}",
                    "t.yaml"));
    assertTrue(
        e.problems().stream().anyMatch(s -> s.startsWith("listener.eventLoops:")),
        e.problems().toString());
  }

  @Test
  void invalidYamlSaysWhere() {
    ConfigException e =
        assertThrows(
            ConfigException.class, () -> GatewayConfigLoader.parse("models: [\n  - {", "bad.yaml"));
    assertTrue(e.problems().get(0).startsWith("<root>: not valid YAML"), e.problems().toString());
  }

  @Test
  void missingModelsIsAProblem() {
    ConfigException e =
        assertThrows(
            ConfigException.class, () -> GatewayConfigLoader.parse("listener: {port: 1}", "x"));
    assertEquals(List.of("models: is required"), e.problems());
  }

  @Test
  void rolesAndDurationsParse() throws Exception {
    GatewayConfig c =
        GatewayConfigLoader.parse(
            """
        models:
          - name: m
            policy: round-robin
            adapters: [sql-lora]
            endpoints:
              - {url: "http://p:8000", role: prefill}
              - {url: "http://d:8000/base", role: decode, id: d1, adapters: [sql-lora]}
        timeouts: {idle: 250ms, total: 1h}
        """,
            "x");
    assertEquals(Role.PREFILL, c.models().get(0).endpoints().get(0).role());
    assertEquals("d1", c.models().get(0).endpoints().get(1).id());
    assertEquals(Duration.ofMillis(250), c.timeouts().idle());
    assertEquals(Duration.ofHours(1), c.timeouts().total());
    assertTrue(c.models().get(0).adapters().contains("sql-lora"));
  }
}
