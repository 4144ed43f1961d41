package io.kvgate.gateway.config;

import static org.junit.jupiter.api.Assertions.*;

import io.kvgate.routing.config.ConfigException;
import io.kvgate.routing.config.ConfigProblem;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class GatewayConfigLoaderTest {

  static List<String> problems(ConfigException e) {
    return e.problems().stream().map(ConfigProblem::toString).toList();
  }

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
    List<String> p = problems(e);
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
        p.stream()
            .anyMatch(
                s ->
                    s.startsWith("models[0].endpoints[1].weight: must be greater than 0 (got -1)")),
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
        routing: {segmentCacheBytes: 1048576}
        """;
    GatewayConfig c = GatewayConfigLoader.parse(yaml, "t.yaml");
    assertEquals(1 << 20, c.routing().segmentCacheBytes());
    GatewayConfig d =
        GatewayConfigLoader.parse(
            "models: [{name: a, endpoints: [{url: \"http://h:1\"}]}]", "t.yaml");
    assertEquals(64L << 20, d.routing().segmentCacheBytes());
    ConfigException e =
        assertThrows(
            ConfigException.class,
            () ->
                GatewayConfigLoader.parse(
                    "models: [{name: a, endpoints: [{url: \"http://h:1\"}]}]\nrouting: {segmentCacheBytes: 0, exactMatch: true}",
                    "t.yaml"));
    assertTrue(
        problems(e).stream().anyMatch(s -> s.startsWith("routing.segmentCacheBytes:")),
        problems(e).toString());
    assertTrue(
        problems(e).stream().anyMatch(s -> s.startsWith("routing.exactMatch: unknown key")),
        problems(e).toString());
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
        problems(e).stream().anyMatch(s -> s.startsWith("listener.eventLoops:")),
        problems(e).toString());
  }

  @Test
  void listenerConnectionLimitsLoadAndAreChecked() throws Exception {
    String models = "models: [{name: a, endpoints: [{url: \"http://h:1\"}]}]\n";
    GatewayConfig.ClientConnections d =
        GatewayConfigLoader.parse(models, "t.yaml").listener().connections();
    assertEquals(GatewayConfig.ClientConnections.DEFAULT, d);
    assertEquals(Duration.ofSeconds(10), d.headerTimeout());
    assertEquals(Duration.ofSeconds(60), d.bodyTimeout());
    assertEquals(Duration.ofSeconds(120), d.idleTimeout());
    assertEquals(0, d.maxConnectionsPerClient());
    GatewayConfig.ClientConnections c =
        GatewayConfigLoader.parse(
                models
                    + "listener: {headerTimeout: 5s, bodyTimeout: 2m, idleTimeout: 650s,"
                    + " maxHeaderBytes: 32768, maxUriBytes: 4096, maxConnectionsPerClient: 64}",
                "t.yaml")
            .listener()
            .connections();
    assertEquals(
        new GatewayConfig.ClientConnections(
            Duration.ofSeconds(5), Duration.ofMinutes(2), Duration.ofSeconds(650), 32768, 4096, 64),
        c);
    ConfigException e =
        assertThrows(
            ConfigException.class,
            () ->
                GatewayConfigLoader.parse(
                    models
                        + "listener: {headerTimeout: 0s, bodyTimeout: soon, maxHeaderBytes: 10,"
                        + " maxUriBytes: 9999999, maxConnectionsPerClient: -1}",
                    "t.yaml"));
    List<String> p = problems(e);
    for (String key :
        List.of(
            "headerTimeout: must be greater than zero",
            "bodyTimeout: must be a duration",
            "maxHeaderBytes:",
            "maxUriBytes:",
            "maxConnectionsPerClient:")) {
      assertTrue(p.stream().anyMatch(s -> s.startsWith("listener." + key)), key + " in " + p);
    }
  }

  @Test
  void invalidYamlSaysWhere() {
    ConfigException e =
        assertThrows(
            ConfigException.class, () -> GatewayConfigLoader.parse("models: [\n  - {", "bad.yaml"));
    assertTrue(problems(e).get(0).startsWith("<root>: not valid YAML"), problems(e).toString());
  }

  @Test
  void missingModelsIsAProblem() {
    ConfigException e =
        assertThrows(
            ConfigException.class, () -> GatewayConfigLoader.parse("listener: {port: 1}", "x"));
    assertEquals(List.of("models: is required"), problems(e));
  }

  @Test
  void durationsAndAdaptersParse() throws Exception {
    GatewayConfig c =
        GatewayConfigLoader.parse(
            """
        models:
          - name: m
            policy: round-robin
            adapters: [sql-lora]
            endpoints:
              - {url: "http://p:8000", role: both}
              - {url: "http://d:8000/base", id: d1, adapters: [sql-lora]}
        timeouts: {idle: 250ms, total: 1h, firstByte: 1.5m}
        """,
            "x");
    assertEquals("d1", c.models().get(0).endpoints().get(1).id());
    assertEquals(Duration.ofMillis(250), c.timeouts().idle());
    assertEquals(Duration.ofHours(1), c.timeouts().total());
    assertEquals(Duration.ofSeconds(90), c.timeouts().firstByte());
    assertTrue(c.models().get(0).adapters().contains("sql-lora"));
  }

  @Test
  void prefillAndDecodeRolesAreRefusedWithoutDisaggregation() {
    ConfigException e =
        assertThrows(
            ConfigException.class,
            () ->
                GatewayConfigLoader.parse(
                    """
                models:
                  - name: m
                    endpoints:
                      - {url: "http://p:8000", role: prefill}
                      - {url: "http://d:8000", role: decode}
                """,
                    "x"));
    assertEquals(2, problems(e).size(), problems(e).toString());
    assertTrue(
        problems(e)
            .get(0)
            .startsWith(
                "models[0].endpoints[0].role: 'prefill' needs disaggregated serving: set the"
                    + " model's pd.protocol"),
        problems(e).toString());
    assertTrue(problems(e).get(1).startsWith("models[0].endpoints[1].role: 'decode'"));
  }

  @Test
  void aDisaggregatedModelReadsItsPdSectionAndRoles() throws Exception {
    GatewayConfig c =
        GatewayConfigLoader.parse(
            """
            models:
              - name: m
                pd: {protocol: sglang, minUncachedTokens: 128, fallback: fail, maxPrefillAttempts: 3,
                     prefillTimeout: 30s, maxPrefillResponseBytes: 65536}
                endpoints:
                  - {url: "http://p:8000", role: prefill, bootstrapPort: 9100}
                  - {url: "http://d:8000", role: decode}
                  - {url: "http://b:8000"}
            """,
            "x");
    GatewayConfig.Model m = c.models().get(0);
    assertEquals(GatewayConfig.PdProtocol.SGLANG, m.pd().protocol());
    assertEquals(128, m.pd().minUncachedTokens());
    assertFalse(m.pd().fallbackAggregate());
    assertEquals(3, m.pd().maxPrefillAttempts());
    assertEquals(Duration.ofSeconds(30), m.pd().prefillTimeout());
    assertEquals(65536, m.pd().maxPrefillResponseBytes());
    assertEquals(9100, m.bootstrapPorts().get("p:8000"));
    assertEquals(
        List.of(
            io.kvgate.routing.Role.PREFILL,
            io.kvgate.routing.Role.DECODE,
            io.kvgate.routing.Role.BOTH),
        m.endpoints().stream().map(io.kvgate.routing.Endpoint::role).toList());
  }

  @Test
  void pdMistakesAreRefusedWithTheirPaths() {
    ConfigException e =
        assertThrows(
            ConfigException.class,
            () ->
                GatewayConfigLoader.parse(
                    """
                    models:
                      - name: a
                        pd: {protocol: trtllm, fallback: maybe, colour: red}
                        endpoints:
                          - {url: "http://p:8000", role: prefill}
                      - name: b
                        pd: {protocol: vllm}
                        endpoints:
                          - {url: "http://p2:8000", role: prefill, bootstrapPort: 9000}
                          - {url: "http://d2:8000", role: decode}
                      - name: c
                        pd: {minUncachedTokens: 10}
                        endpoints:
                          - {url: "http://x:8000"}
                    """,
                    "x"));
    List<String> p = problems(e);
    for (String expected :
        List.of(
            "models[0].pd.colour: unknown key",
            "models[0].pd.protocol: must be vllm or sglang (got 'trtllm')",
            "models[0].pd.fallback: must be aggregate or fail (got 'maybe')",
            "models[1].endpoints[0].bootstrapPort: applies to role: prefill endpoints of a model"
                + " with pd.protocol: sglang",
            "models[2].pd.protocol: is required")) {
      assertTrue(p.stream().anyMatch(x -> x.startsWith(expected)), expected + " not in " + p);
    }
  }

  @Test
  void aDisaggregatedModelNeedsBothPools() {
    ConfigException e =
        assertThrows(
            ConfigException.class,
            () ->
                GatewayConfigLoader.parse(
                    """
                    models:
                      - name: a
                        pd: {protocol: vllm}
                        endpoints:
                          - {url: "http://p:8000", role: prefill}
                          - {url: "http://b:8000"}
                      - name: b
                        pd: {protocol: vllm}
                        endpoints:
                          - {url: "http://d:8000", role: decode}
                    """,
                    "x"));
    List<String> p = problems(e);
    assertTrue(
        p.stream()
            .anyMatch(x -> x.startsWith("models[0].pd: a disaggregated model needs a decode pool")),
        p.toString());
    assertTrue(
        p.stream()
            .anyMatch(
                x -> x.startsWith("models[1].pd: a disaggregated model needs a prefill pool")),
        p.toString());
  }

  @Test
  void endpointUrlsCarryNoQueryFragmentOrUserInfo() {
    ConfigException e =
        assertThrows(
            ConfigException.class,
            () ->
                GatewayConfigLoader.parse(
                    """
                models:
                  - name: m
                    endpoints:
                      - {url: "http://h:1/base?x=1"}
                      - {url: "http://u:p@h:2"}
                      - {url: "http://h:3/#frag"}
                """,
                    "x"));
    assertEquals(3, problems(e).size(), problems(e).toString());
    for (String p : problems(e)) assertTrue(p.contains("without user info, query or fragment"), p);
  }

  @Test
  void tlsSettingsMergeGlobalAndPerEndpointAndApplyToHttpsOnly() throws Exception {
    Path ca = Files.createTempFile("ca", ".pem");
    Files.write(ca, io.kvgate.sim.SimTls.bundledCertificatePem().getBytes());
    String yaml =
        """
        upstreamTls: {caFile: "CA", verifyHostname: false}
        models:
          - name: m
            endpoints:
              - {url: "https://a:8443"}
              - {url: "https://b:8443", tls: {trustAll: true}}
              - {url: "http://c:8000"}
        """
            .replace("CA", ca.toString());
    GatewayConfig c = GatewayConfigLoader.parse(yaml, "x");
    GatewayConfig.Model m = c.models().get(0);
    assertEquals(
        new GatewayConfig.UpstreamTls(ca.toString(), false, false), m.tls(m.endpoints().get(0)));
    assertEquals(
        new GatewayConfig.UpstreamTls(null, true, false),
        m.tls(m.endpoints().get(1)),
        "trustAll set here drops the inherited caFile");
    assertEquals(GatewayConfig.UpstreamTls.DEFAULT, m.tls(m.endpoints().get(2)));

    GatewayConfig pinned =
        GatewayConfigLoader.parse(
            """
            upstreamTls: {trustAll: true}
            models: [{name: m, endpoints: [{url: "https://a:8443", tls: {caFile: "CA"}}]}]
            """
                .replace("CA", ca.toString()),
            "x");
    GatewayConfig.Model pm = pinned.models().get(0);
    assertEquals(
        new GatewayConfig.UpstreamTls(ca.toString(), false, true),
        pm.tls(pm.endpoints().get(0)),
        "a caFile set here is not overridden by an inherited trustAll");

    Path notPem = Files.createTempFile("not", ".pem");
    Files.writeString(notPem, "hello\n");
    ConfigException e =
        assertThrows(
            ConfigException.class,
            () ->
                GatewayConfigLoader.parse(
                    """
                upstreamTls: {trustAll: true, verifyHostname: true}
                models:
                  - name: m
                    endpoints:
                      - {url: "http://a:8000", tls: {caFile: /no/such/ca.pem, pin: x}}
                      - {url: "https://b:8443", tls: {caFile: "NOTPEM"}}
                      - {url: "https://b:8443/other", id: b2}
                      - {url: "http://d:8000", labels: {zone-a: x, zone_a: y}}
                """
                        .replace("NOTPEM", notPem.toString()),
                    "x"));
    assertEquals(
        List.of(
            "upstreamTls.verifyHostname: does nothing where trustAll accepts every certificate",
            "models[0].endpoints[0].tls: applies to https:// endpoints only (this one is"
                + " http://a:8000)",
            "models[0].endpoints[0].tls.pin: unknown key (allowed: caFile, trustAll,"
                + " verifyHostname)",
            "models[0].endpoints[0].tls.caFile: cannot read '/no/such/ca.pem'",
            "models[0].endpoints[1].tls.caFile: '"
                + notPem
                + "' is not a PEM certificate file: No certificate data found",
            "models[0].endpoints[2].tls: differs from another endpoint's at b:8443: trust it one"
                + " way",
            "models[0].endpoints[3].labels.zone_a: publishes as the same metric tag as 'zone-a'"
                + " (label_zone_a): rename one"),
        problems(e));
  }

  @Test
  void extraApiPathsMustBeNormalisedPaths() throws Exception {
    GatewayConfig c =
        GatewayConfigLoader.parse(
            "api: {extraPaths: [/v1/rerank2]}\nmodels: [{name: a, endpoints: [{url: \"http://h:1\"}]}]",
            "x");
    assertEquals(List.of("/v1/rerank2"), c.api().extraPaths());
    ConfigException e =
        assertThrows(
            ConfigException.class,
            () ->
                GatewayConfigLoader.parse(
                    "api: {extraPaths: [v1/x, /v1/../sleep, \"/a?b=1\", 5], other: 1}\n"
                        + "models: [{name: a, endpoints: [{url: \"http://h:1\"}]}]",
                    "x"));
    assertEquals(
        List.of(
            "api.other: unknown key (allowed: extraPaths)",
            "api.extraPaths[0]: must start with '/'",
            "api.extraPaths[1]: must not contain '.' or '..' segments",
            "api.extraPaths[2]: must not carry a query",
            "api.extraPaths[3]: must be a string"),
        problems(e));
  }

  @Test
  void endpointApiKeysLoadAndAreNeverShown() throws Exception {
    GatewayConfig c =
        GatewayConfigLoader.parse(
            "models: [{name: a, endpoints: [{url: \"http://h:1\", apiKey: sk-123}]}]", "x");
    assertEquals(Map.of("h:1", "sk-123"), c.models().get(0).apiKeys());
    ConfigException e =
        assertThrows(
            ConfigException.class,
            () ->
                GatewayConfigLoader.parse(
                    "models: [{name: a, endpoints: [{url: \"http://h:1\", apiKey: \"sk 123\"}]}]",
                    "x"));
    assertEquals(
        List.of(
            "models[0].endpoints[0].apiKey: must be printable ASCII without spaces (the value is not"
                + " shown)"),
        problems(e));
  }

  @Test
  void retryBudgetLoadsAndIsChecked() throws Exception {
    GatewayConfig c =
        GatewayConfigLoader.parse(
            "limits: {retryBudget: 0.5, minRetriesInFlight: 0, retryBackoff: 10ms}\n"
                + "models: [{name: a, endpoints: [{url: \"http://h:1\"}]}]",
            "x");
    assertEquals(0.5, c.limits().retryBudget());
    assertEquals(0, c.limits().minRetriesInFlight());
    assertEquals(Duration.ofMillis(10), c.limits().retryBackoff());
    ConfigException e =
        assertThrows(
            ConfigException.class,
            () ->
                GatewayConfigLoader.parse(
                    "limits: {retryBudget: 2}\nmodels: [{name: a, endpoints: [{url: \"http://h:1\"}]}]",
                    "x"));
    assertEquals(List.of("limits.retryBudget: must be between 0 and 1 (got 2)"), problems(e));
  }

  @Test
  void authAdminAndDrainLoadAndAreChecked(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir)
      throws Exception {
    String hash = io.kvgate.gateway.auth.KeyHash.of("sk-team-a-secret").toString();
    java.nio.file.Path file = dir.resolve("keys");
    java.nio.file.Files.writeString(file, "# clients\nsk-file-key-one\n\nsk-file-key-two\n");
    GatewayConfig c =
        GatewayConfigLoader.parse(
            "auth:\n"
                + "  keysFile: "
                + file
                + "\n"
                + "  rateLimit: {rps: 5, tpm: 60000}\n"
                + "  keys:\n"
                + "    - {name: a, tenant: team-a, hash: \""
                + hash
                + "\", models: [m], rateLimit: {rps: 1}, priority: true}\n"
                + "    - {name: ops, hash: \""
                + hash
                + "\", admin: true}\n"
                + "admin: {host: 0.0.0.0, port: 9100}\n"
                + "drain: {grace: 1s, timeout: 10s}\n"
                + "models: [{name: m, endpoints: [{url: \"http://h:1\"}]}]",
            "x");
    var keys = c.auth().keys();
    assertEquals(
        List.of("a", "ops", "keys-file:2", "keys-file:4"),
        keys.stream().map(io.kvgate.gateway.auth.ApiKey::name).toList());
    assertEquals("team-a", keys.get(0).tenant());
    assertTrue(keys.get(0).hash().matches("sk-team-a-secret"));
    assertEquals(new io.kvgate.gateway.auth.RateLimits(1, 60000), keys.get(0).limits());
    assertEquals(io.kvgate.gateway.auth.RateLimits.INHERIT, keys.get(1).limits());
    assertTrue(keys.get(0).priority() && !keys.get(0).admin() && keys.get(1).admin());
    assertTrue(keys.get(3).hash().matches("sk-file-key-two"));
    assertEquals(new io.kvgate.gateway.auth.RateLimits(5, 60000), c.auth().rateLimit());
    assertEquals(new GatewayConfig.Admin(true, "0.0.0.0", 9100), c.admin());
    assertEquals(new GatewayConfig.Drain(Duration.ofSeconds(1), Duration.ofSeconds(10)), c.drain());

    java.nio.file.Files.writeString(file, "short\n");
    ConfigException e =
        assertThrows(
            ConfigException.class,
            () ->
                GatewayConfigLoader.parse(
                    "auth:\n"
                        + "  keysFile: "
                        + file
                        + "\n"
                        + "  keys:\n"
                        + "    - {name: a, hash: sk-plain-text-key, models: [nope], rateLimit: {rpm: 3}}\n"
                        + "    - {name: a, hash: \""
                        + hash
                        + "\"}\n"
                        + "listener: {port: 9000}\n"
                        + "admin: {port: 9000, tls: yes}\n"
                        + "models: [{name: m, endpoints: [{url: \"http://h:1\"}]}]",
                    "x"));
    List<String> p = problems(e);
    assertTrue(
        p.stream().anyMatch(s -> s.startsWith("auth.keys[0].hash: must be 'sha256:")),
        p.toString());
    assertTrue(
        p.contains("auth.keys[0].models: 'nope' is not a model or adapter configured under models"),
        p.toString());
    assertTrue(p.stream().anyMatch(s -> s.startsWith("auth.keys[0].rateLimit.rpm")), p.toString());
    assertTrue(p.contains("auth.keys[1].name: duplicate key name 'a'"), p.toString());
    assertTrue(
        p.stream().anyMatch(s -> s.startsWith("auth.keysFile: line 1 is not a key")), p.toString());
    assertTrue(p.stream().anyMatch(s -> s.startsWith("admin.tls")), p.toString());
    assertTrue(
        p.contains("admin.port: is the API listener's port (listener.port): pick another"),
        p.toString());
    assertFalse(p.toString().contains("sk-plain-text-key"), "a key is never echoed");
  }

  @Test
  void theGrpcListenerIsOffUntilConfiguredAndItsPortIsChecked() throws Exception {
    String model = "models: [{name: m, endpoints: [{url: \"http://h:1\"}]}]\n";
    assertEquals(GatewayConfig.Grpc.OFF, GatewayConfigLoader.parse(model, "x").grpc());
    assertEquals(
        new GatewayConfig.Grpc(true, "0.0.0.0", 9300, null),
        GatewayConfigLoader.parse(model + "grpc: {host: 0.0.0.0, port: 9300}", "x").grpc());
    assertFalse(
        GatewayConfigLoader.parse(model + "grpc: {enabled: false, port: 9300}", "x")
            .grpc()
            .enabled());
    ConfigException e =
        assertThrows(
            ConfigException.class,
            () ->
                GatewayConfigLoader.parse(
                    model + "admin: {port: 9300}\ngrpc: {port: 9300, reflection: true}", "x"));
    List<String> p = problems(e);
    assertTrue(
        p.contains("grpc.port: is the admin listener's port (admin.port): pick another"),
        p.toString());
    assertTrue(p.stream().anyMatch(s -> s.startsWith("grpc.reflection")), p.toString());
  }

  @Test
  void parseLimitsLoadAndAreChecked() throws Exception {
    GatewayConfig.ParseLimits d =
        GatewayConfigLoader.parse("models: [{name: a, endpoints: [{url: \"http://h:1\"}]}]", "x")
            .limits()
            .parse();
    assertEquals(GatewayConfig.ParseLimits.DEFAULT, d);
    GatewayConfig c =
        GatewayConfigLoader.parse(
            "limits: {maxMessages: 7, maxContentParts: 8, maxPromptChars: 9000,"
                + " maxPromptValues: 900, parseBudgetBytes: 2048, parseQueueTimeout: 250ms}\n"
                + "models: [{name: a, endpoints: [{url: \"http://h:1\"}]}]",
            "x");
    assertEquals(
        new GatewayConfig.ParseLimits(7, 8, 9000, 900, 2048, Duration.ofMillis(250)),
        c.limits().parse());
    ConfigException e =
        assertThrows(
            ConfigException.class,
            () ->
                GatewayConfigLoader.parse(
                    "limits: {maxMessages: 0, parseBudgetBytes: 10, parseQueueTimeout: soon}\n"
                        + "models: [{name: a, endpoints: [{url: \"http://h:1\"}]}]",
                    "x"));
    List<String> p = problems(e);
    assertEquals(3, p.size(), p.toString());
    assertTrue(p.get(0).startsWith("limits.maxMessages: must be between 1 and"), p.toString());
    assertTrue(
        p.get(1).startsWith("limits.parseBudgetBytes: must be between 1024 and"), p.toString());
    assertTrue(p.get(2).startsWith("limits.parseQueueTimeout: must be a duration"), p.toString());
  }

  @Test
  void errorRateEjectionLoadsAndIsChecked() throws Exception {
    GatewayConfig c =
        GatewayConfigLoader.parse(
            "health: {errorRateThreshold: 0.3, errorRateMinRequests: 50, errorRateWindow: 30s,"
                + " maxEjectionPercent: 25}\n"
                + "models: [{name: a, endpoints: [{url: \"http://h:1\"}]}]",
            "x");
    assertEquals(
        new GatewayConfig.ErrorRate(0.3, 50, Duration.ofSeconds(30), 25), c.health().errorRate());
    assertEquals(
        GatewayConfig.ErrorRate.DEFAULT,
        GatewayConfigLoader.parse("models: [{name: a, endpoints: [{url: \"http://h:1\"}]}]", "x")
            .health()
            .errorRate());
    ConfigException e =
        assertThrows(
            ConfigException.class,
            () ->
                GatewayConfigLoader.parse(
                    "health: {errorRateThreshold: 0, errorRateMinRequests: 0, errorRateWindow: 5ms,"
                        + " maxEjectionPercent: 101}\n"
                        + "models: [{name: a, endpoints: [{url: \"http://h:1\"}]}]",
                    "x"));
    assertEquals(
        List.of(
            "health.errorRateThreshold: must be above 0 (1 turns error-rate ejection off)",
            "health.errorRateWindow: must be at least 10ms",
            "health.errorRateMinRequests: must be between 1 and 1000000 (got 0)",
            "health.maxEjectionPercent: must be between 0 and 100 (got 101)"),
        problems(e));
  }

  @Test
  void loggingAndAccessLogLoadAndAreChecked() throws Exception {
    GatewayConfig c =
        GatewayConfigLoader.parse(
            "logging: {maxLinesPerInterval: 3, interval: 1m}\n"
                + "accessLog: {sampleRate: 0.01, errorsAlways: true}\n"
                + "models: [{name: a, endpoints: [{url: \"http://h:1\"}]}]",
            "x");
    assertEquals(
        new GatewayConfig.Logging(
            3, Duration.ofMinutes(1), new GatewayConfig.AccessLog(0.01, true)),
        c.logging());
    assertFalse(
        GatewayConfigLoader.parse("models: [{name: a, endpoints: [{url: \"http://h:1\"}]}]", "x")
            .logging()
            .accessLog()
            .enabled(),
        "the access log is off by default");
    ConfigException e =
        assertThrows(
            ConfigException.class,
            () ->
                GatewayConfigLoader.parse(
                    "logging: {maxLinesPerInterval: -1, every: 1s}\n"
                        + "accessLog: {sampleRate: 1.5, errorsAlways: yes please}\n"
                        + "models: [{name: a, endpoints: [{url: \"http://h:1\"}]}]",
                    "x"));
    assertEquals(
        List.of(
            "logging.every: unknown key (allowed: interval, maxLinesPerInterval)",
            "logging.maxLinesPerInterval: must be between 0 and 1000000 (got -1)",
            "accessLog.sampleRate: must be between 0 and 1 (got 1.5)",
            "accessLog.errorsAlways: must be true or false"),
        problems(e));
  }
}
