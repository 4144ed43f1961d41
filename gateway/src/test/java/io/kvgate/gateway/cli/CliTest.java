package io.kvgate.gateway.cli;

import static org.junit.jupiter.api.Assertions.*;

import io.kvgate.gateway.config.GatewayConfig;
import io.kvgate.gateway.config.GatewayConfigLoader;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

class CliTest {

  /** Runs {@code r} and returns what it printed to standard output. */
  static String capture(Runnable r) {
    PrintStream old = System.out;
    ByteArrayOutputStream buf = new ByteArrayOutputStream();
    System.setOut(new PrintStream(buf, true));
    try {
      r.run();
    } finally {
      System.setOut(old);
    }
    return buf.toString();
  }

  /** Runs {@code r} and returns what it printed to standard error. */
  static String captureErr(Runnable r) {
    PrintStream old = System.err;
    ByteArrayOutputStream buf = new ByteArrayOutputStream();
    System.setErr(new PrintStream(buf, true));
    try {
      r.run();
    } finally {
      System.setErr(old);
    }
    return buf.toString();
  }

  @Test
  void checkConfigAcceptsTheExample() {
    int[] code = {-1};
    String out = capture(() -> code[0] = Main.run("check-config", "../config/gateway.yaml"));
    assertEquals(0, code[0], out);
    assertTrue(out.contains("OK"), out);
  }

  @Test
  void checkConfigListsProblemsAndExits1(@TempDir Path dir) throws Exception {
    Path f = dir.resolve("bad.yaml");
    Files.writeString(
        f,
        "models:\n  - name: m\n    policy: no-such-policy\n    endpoints: [{url: 'http://h:1', rol: both}]\n");
    int[] code = {-1};
    String out = capture(() -> code[0] = Main.run("check-config", f.toString()));
    assertEquals(1, code[0], out);
    assertTrue(out.contains("models[0].endpoints[0].rol: unknown key"), out);
  }

  @Test
  void checkConfigReportsAnInvalidPolicy(@TempDir Path dir) throws Exception {
    Path f = dir.resolve("p.yaml");
    Files.writeString(
        f,
        "models:\n  - name: m\n    policy: no-such-policy\n    endpoints: [{url: 'http://h:1'}]\n");
    int[] code = {-1};
    String out = capture(() -> code[0] = Main.run("check-config", f.toString()));
    assertEquals(1, code[0], out);
    assertTrue(out.contains("models[0].policy"), out);
  }

  @Test
  void helpShowsDefaults() {
    String out = capture(() -> Main.run("serve", "--help"));
    assertTrue(out.contains("--policy") && out.contains("default: cache-aware"), out);
    String sim = capture(() -> Main.run("sim", "--help"));
    assertTrue(sim.contains("--capacity-blocks") && sim.contains("default: 26000"), sim);
  }

  /** Each case is refused before any engine starts (a regression would block until shutdown). */
  @Test
  @Timeout(value = 30, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
  void simRefusesIncompleteOrConflictingTlsFlags(@TempDir Path dir) throws Exception {
    Path cert = Files.writeString(dir.resolve("cert.pem"), "x");
    Path key = Files.writeString(dir.resolve("key.pem"), "x");
    String[][] cases = {
      {"--tls-cert", cert.toString()},
      {"--tls-key", key.toString()},
      {"--tls", "--tls-cert", cert.toString(), "--tls-key", key.toString()},
      {"--tls-cert", dir.resolve("missing.pem").toString(), "--tls-key", key.toString()},
    };
    String[] messages = {
      "give --tls-cert and --tls-key together",
      "give --tls-cert and --tls-key together",
      "give either --tls or --tls-cert/--tls-key, not both",
      "cannot read " + dir.resolve("missing.pem"),
    };
    for (int i = 0; i < cases.length; i++) {
      String[] args = new String[cases[i].length + 5];
      args[0] = "sim";
      args[1] = "--replicas";
      args[2] = "1";
      args[3] = "--base-port";
      args[4] = "0";
      System.arraycopy(cases[i], 0, args, 5, cases[i].length);
      int[] code = {-1};
      String err = captureErr(() -> code[0] = Main.run(args));
      assertEquals(2, code[0], String.join(" ", args) + ": " + err);
      assertTrue(err.contains(messages[i]), err);
    }
  }

  @Test
  void serveAndDemoRefuseIncompleteDisaggregationFlags() {
    String[][] cases = {
      {"serve", "--model", "m", "--pd-protocol", "vllm", "--prefill-endpoints", "http://p:1"},
      {
        "serve",
        "--model",
        "m",
        "--pd-protocol",
        "trtllm",
        "--prefill-endpoints",
        "http://p:1",
        "--decode-endpoints",
        "http://d:1"
      },
      {
        "serve",
        "--model",
        "m",
        "--pd-protocol",
        "vllm",
        "--prefill-endpoints",
        "http://p:1",
        "--decode-endpoints",
        "http://p:1"
      },
      {"serve", "--config", "x.yaml", "--decode-endpoints", "http://d:1"},
      {"demo", "--decode-replicas", "3"},
      {"demo", "--pd", "sglang", "--replicas", "3"},
      {"demo", "--pd", "tgi"},
    };
    String[] messages = {
      "the disaggregated quick form needs",
      "must be vllm or sglang (got 'trtllm')",
      "endpoint p:1 is listed twice",
      "give either --config or the quick form",
      "--prefill-replicas and --decode-replicas go with --pd",
      "size the pools with --prefill-replicas/--decode-replicas",
      "must be vllm or sglang (got 'tgi')",
    };
    for (int i = 0; i < cases.length; i++) {
      String[] args = cases[i];
      int[] code = {-1};
      String err = captureErr(() -> code[0] = Main.run(args));
      assertEquals(2, code[0], String.join(" ", args) + ": " + err);
      assertTrue(err.contains(messages[i]), err);
    }
  }

  @Test
  void simHelpListsTheTlsFlags() {
    String out = capture(() -> Main.run("sim", "--help"));
    assertTrue(out.contains("--tls ") && out.contains("--tls-cert=FILE"), out);
    assertTrue(out.contains("--tls-key=FILE"), out);
  }

  @Test
  void serveFlagsAddKeysLimitsAndTheAdminListener(@TempDir Path dir) throws Exception {
    Path keys = dir.resolve("keys");
    Files.writeString(keys, "sk-flag-key-000001\n");
    ServeCommand serve = new ServeCommand();
    serve.apiKeysFile = keys;
    serve.rateLimitRps = 5.0;
    serve.rateLimitTpm = 1000L;
    serve.adminPort = -1;
    io.kvgate.gateway.config.GatewayConfig c =
        serve.withFlags(
            io.kvgate.gateway.config.GatewayConfig.of(
                "m", java.util.List.of("http://h:1"), "random"));
    assertEquals(1, c.auth().keys().size());
    assertTrue(c.auth().keys().get(0).hash().matches("sk-flag-key-000001"));
    assertEquals(new io.kvgate.gateway.auth.RateLimits(5, 1000), c.auth().rateLimit());
    assertFalse(c.admin().enabled());
    serve.apiKeysFile = null;
    io.kvgate.gateway.config.GatewayConfig.ServerTls tls =
        new io.kvgate.gateway.config.GatewayConfig.ServerTls("cert.pem", "key.pem");
    c = c.withAdmin(new io.kvgate.gateway.config.GatewayConfig.Admin(true, "127.0.0.1", 8081, tls));
    serve.adminHost = "0.0.0.0";
    assertEquals(tls, serve.withFlags(c).admin().tls(), "the flags keep the admin listener's TLS");
    serve.adminPort = 9191;
    assertEquals(9191, serve.withFlags(c).admin().port());
    assertTrue(serve.withFlags(c).admin().enabled());
  }

  @Test
  void grpcFlagsTurnTheGrpcListenerOnAndOff() throws Exception {
    ServeCommand serve = new ServeCommand();
    io.kvgate.gateway.config.GatewayConfig c =
        io.kvgate.gateway.config.GatewayConfig.of("m", java.util.List.of("http://h:1"), "random");
    assertFalse(serve.withFlags(c).grpc().enabled(), "off by default");
    serve.grpcHost = "0.0.0.0";
    assertThrows(IllegalArgumentException.class, () -> serve.withFlags(c), "a host alone");
    serve.grpcPort = 9300;
    io.kvgate.gateway.config.GatewayConfig on = serve.withFlags(c);
    assertEquals(
        new io.kvgate.gateway.config.GatewayConfig.Grpc(true, "0.0.0.0", 9300, null), on.grpc());
    serve.grpcHost = null;
    serve.grpcPort = -1;
    assertFalse(serve.withFlags(on).grpc().enabled());
    serve.grpcPort = 70000;
    assertThrows(IllegalArgumentException.class, () -> serve.withFlags(c));
  }

  @Test
  void batchFlagsMoveOrTurnOffTheBatchLane() throws Exception {
    GatewayConfig file =
        GatewayConfig.of("m", java.util.List.of("http://h:1"), "random")
            .withBatch(GatewayConfig.Batch.DEFAULT);
    ServeCommand serve = new ServeCommand();
    new picocli.CommandLine(serve).parseArgs("--data-dir", "/srv/kvgate");
    GatewayConfig.Batch b = serve.withFlags(file).batch();
    assertTrue(b.enabled());
    assertEquals(java.nio.file.Path.of("/srv/kvgate"), b.dataDir());
    ServeCommand off = new ServeCommand();
    new picocli.CommandLine(off).parseArgs("--no-batch");
    assertFalse(off.withFlags(file).batch().enabled());
    ServeCommand both = new ServeCommand();
    new picocli.CommandLine(both).parseArgs("--no-batch", "--data-dir", "/srv/kvgate");
    assertThrows(IllegalArgumentException.class, () -> both.withFlags(file));
  }

  @Test
  void clusterFlagsBuildTheClusterConfig() throws Exception {
    ServeCommand serve = new ServeCommand();
    new picocli.CommandLine(serve)
        .parseArgs(
            "--model",
            "m",
            "--endpoints",
            "http://h:1",
            "--cluster-name",
            "prod",
            "--cluster-port",
            "5801",
            "--cluster-members",
            "10.0.0.1:5801,10.0.0.2:5801,gw-3.internal:5801",
            "--cluster-host",
            "10.0.0.1",
            "--gateway-id",
            "gw-1");
    GatewayConfig base = GatewayConfig.of("m", java.util.List.of("http://h:1"), "random");
    assertFalse(base.cluster().enabled(), "off without the flags");
    GatewayConfig.Cluster c = serve.withFlags(base).cluster();
    assertEquals(
        GatewayConfig.Cluster.OFF
            .on(
                "prod",
                5801,
                java.util.List.of("10.0.0.1:5801", "10.0.0.2:5801", "gw-3.internal:5801"))
            .withHost("10.0.0.1")
            .withGatewayId("gw-1"),
        c);
    assertTrue(c.enabled());

    ServeCommand nameOnly = new ServeCommand();
    nameOnly.clusterName = "prod";
    assertEquals(
        GatewayConfig.Cluster.OFF.on("prod", 5701, java.util.List.of()),
        nameOnly.withFlags(base).cluster(),
        "--cluster-name alone: every other key at its default");
  }

  @Test
  void clusterFlagsOverrideAConfigThatEnablesTheCluster() throws Exception {
    GatewayConfig file =
        GatewayConfigLoader.parse(
            """
            models: [{name: m, endpoints: [{url: "http://h:1"}]}]
            cluster:
              name: prod
              host: 10.0.0.1
              members: ["10.0.0.1:5701", "10.0.0.2:5701"]
              memberTimeout: 20s
            """,
            "t.yaml");
    ServeCommand serve = new ServeCommand();
    serve.clusterPort = 5900;
    serve.gatewayId = "gw-2";
    GatewayConfig.Cluster c = serve.withFlags(file).cluster();
    assertEquals(
        file.cluster().on("prod", 5900, file.cluster().members()).withGatewayId("gw-2"), c);
    assertEquals(java.time.Duration.ofSeconds(20), c.memberTimeout(), "the file's timings stay");
    assertEquals("10.0.0.1", c.host());

    ServeCommand members = new ServeCommand();
    members.clusterMembers = java.util.List.of("10.0.0.3:5701");
    assertEquals(
        java.util.List.of("10.0.0.3:5701"),
        members.withFlags(file).cluster().members(),
        "--cluster-members replaces the file's list");
  }

  @Test
  void clusterFlagsWithoutClusteringOnAreRefused() throws Exception {
    GatewayConfig base = GatewayConfig.of("m", java.util.List.of("http://h:1"), "random");
    GatewayConfig disabled =
        GatewayConfigLoader.parse(
            "models: [{name: m, endpoints: [{url: \"http://h:1\"}]}]\n"
                + "cluster: {enabled: false, name: prod}\n",
            "t.yaml");
    java.util.List<java.util.function.Consumer<ServeCommand>> flags =
        java.util.List.of(
            s -> s.clusterPort = 5702,
            s -> s.clusterMembers = java.util.List.of("10.0.0.1:5701"),
            s -> s.clusterHost = "10.0.0.1",
            s -> s.gatewayId = "gw-1");
    for (GatewayConfig config : java.util.List.of(base, disabled)) {
      for (java.util.function.Consumer<ServeCommand> flag : flags) {
        ServeCommand serve = new ServeCommand();
        flag.accept(serve);
        IllegalArgumentException e =
            assertThrows(IllegalArgumentException.class, () -> serve.withFlags(config));
        assertEquals(
            "--cluster-port, --cluster-members, --cluster-host and --gateway-id need clustering"
                + " on: give --cluster-name (or a cluster section in the config)",
            e.getMessage());
      }
    }

    // The same through the command line: refused with exit code 2 before anything starts.
    String[][] cases = {
      {"serve", "--model", "m", "--endpoints", "http://h:1", "--cluster-port", "5702"},
      {"serve", "--model", "m", "--endpoints", "http://h:1", "--cluster-members", "h:1,h:2"},
      {"serve", "--model", "m", "--endpoints", "http://h:1", "--gateway-id", "gw-1"},
    };
    for (String[] args : cases) {
      int[] code = {-1};
      String err = captureErr(() -> code[0] = Main.run(args));
      assertEquals(2, code[0], String.join(" ", args) + ": " + err);
      assertTrue(err.contains("serve: --cluster-port, --cluster-members,"), err);
      assertTrue(err.contains("give --cluster-name"), err);
    }
  }

  @Test
  void badClusterFlagsAreRefused() throws Exception {
    GatewayConfig base = GatewayConfig.of("m", java.util.List.of("http://h:1"), "random");
    GatewayConfig multicast =
        GatewayConfigLoader.parse(
            "models: [{name: m, endpoints: [{url: \"http://h:1\"}]}]\n"
                + "cluster: {name: prod, join: multicast}\n",
            "t.yaml");
    record Case(GatewayConfig config, java.util.function.Consumer<ServeCommand> flags, String m) {}
    java.util.List<Case> cases =
        java.util.List.of(
            new Case(
                base,
                s -> s.clusterMembers = java.util.List.of("10.0.0.1:5701", "10.0.0.2"),
                "--cluster-members: must be host:port with a port of 1..65535, was '10.0.0.2'"),
            new Case(
                base,
                s -> s.clusterMembers = java.util.List.of("10.0.0.1:70000"),
                "--cluster-members: must be host:port"),
            new Case(
                multicast,
                s -> s.clusterMembers = java.util.List.of("10.0.0.1:5701"),
                "--cluster-members lists tcp-ip members, and cluster.join is 'multicast'"),
            new Case(base, s -> s.clusterPort = 0, "--cluster-port must be 1..65535"),
            new Case(base, s -> s.clusterPort = 70000, "--cluster-port must be 1..65535"),
            new Case(base, s -> s.clusterHost = "gw-1.internal", "--cluster-host must be an IPv4"),
            new Case(base, s -> s.clusterName = " ", "--cluster-name must not be empty"),
            new Case(base, s -> s.gatewayId = "", "--gateway-id must not be empty"),
            new Case(
                base,
                s -> s.clusterPort = 8080,
                "the cluster port 8080 is taken by the API, admin or gRPC listener"),
            new Case(
                base,
                s -> s.clusterPort = 8081,
                "the cluster port 8081 is taken by the API, admin or gRPC listener"));
    for (Case c : cases) {
      ServeCommand serve = new ServeCommand();
      serve.clusterName = "prod";
      c.flags().accept(serve);
      IllegalArgumentException e =
          assertThrows(IllegalArgumentException.class, () -> serve.withFlags(c.config()), c.m());
      assertTrue(e.getMessage().startsWith(c.m()), e.getMessage());
    }
    ServeCommand freeAdmin = new ServeCommand();
    freeAdmin.clusterName = "prod";
    freeAdmin.clusterPort = 8081;
    freeAdmin.adminPort = -1;
    assertEquals(
        8081, freeAdmin.withFlags(base).cluster().port(), "the admin port, admin listener off");
  }

  @Test
  void aClusterPortTakenByTheListenerIsRefusedAtTheCommandLine() {
    String[] args = {
      "serve", "--model", "m", "--endpoints", "http://h:1", "--port", "5701", "--cluster-name", "p"
    };
    int[] code = {-1};
    String err = captureErr(() -> code[0] = Main.run(args));
    assertEquals(2, code[0], err);
    assertTrue(err.contains("serve: the cluster port 5701 is taken by the API"), err);
  }

  @Test
  void hashKeyPrintsAnEntryThatMatchesTheKey() {
    java.io.InputStream in = System.in;
    try {
      System.setIn(new java.io.ByteArrayInputStream("sk-my-secret-key\n".getBytes()));
      int[] code = {-1};
      String out = capture(() -> code[0] = Main.run("hash-key", "--name", "ci", "--tenant", "t"));
      assertEquals(0, code[0]);
      assertFalse(out.contains("sk-my-secret-key"), out);
      String hash = out.substring(out.indexOf("sha256:"), out.lastIndexOf('"'));
      assertTrue(io.kvgate.gateway.auth.KeyHash.parse(hash).matches("sk-my-secret-key"), out);
      assertTrue(out.contains("name: ci") && out.contains("tenant: t"), out);
    } finally {
      System.setIn(in);
    }
  }
}
