package io.kvgate.gateway.cli;

import static org.junit.jupiter.api.Assertions.*;

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
