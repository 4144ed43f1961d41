package io.kvgate.gateway.cli;

import static org.junit.jupiter.api.Assertions.*;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
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
}
