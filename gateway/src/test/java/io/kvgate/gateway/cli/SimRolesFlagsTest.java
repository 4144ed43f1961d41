package io.kvgate.gateway.cli;

import static io.kvgate.gateway.TestSupport.await;
import static org.junit.jupiter.api.Assertions.*;

import io.kvgate.sim.Role;
import io.kvgate.sim.SimEngine;
import io.kvgate.sim.SimEngineConfig;
import io.kvgate.sim.SimFleet;
import io.vertx.core.Vertx;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import picocli.CommandLine;

/**
 * {@code kvgate sim --roles}, {@code --bootstrap-port}, {@code --bootstrap-timeout}, {@code
 * --server-info} and {@code --incomplete-kv-transfer}: the per-replica configs they give, what the
 * command prints, and the refusals (exit 2, before any engine starts).
 */
class SimRolesFlagsTest {

  private static SimCommand parse(String... args) {
    SimCommand c = new SimCommand();
    new CommandLine(c).parseArgs(args);
    return c;
  }

  private static List<SimEngineConfig> configs(String... args) {
    return parse(args).engineConfigs(SimEngineConfig.defaults());
  }

  /** The refusal {@code args} print, checking that they give no configs. */
  private static String refusal(String... args) {
    List<SimEngineConfig>[] out = new List[1];
    String err = CliTest.captureErr(() -> out[0] = configs(args));
    assertNull(out[0], String.join(" ", args));
    return err;
  }

  @Test
  void rolesCycleOverTheReplicasWithPortsAndBootstrapPorts() {
    List<SimEngineConfig> c =
        configs("--replicas", "5", "--base-port", "9000", "--roles", "prefill,decode");
    assertEquals(
        List.of(Role.PREFILL, Role.DECODE, Role.PREFILL, Role.DECODE, Role.PREFILL),
        c.stream().map(SimEngineConfig::role).toList());
    assertEquals(
        List.of(9000, 9001, 9002, 9003, 9004), c.stream().map(SimEngineConfig::port).toList());
    assertTrue(c.stream().allMatch(x -> x.bootstrapPort() == 0), "ephemeral by default");

    c =
        configs(
            "--replicas",
            "4",
            "--base-port",
            "0",
            "--roles",
            " Prefill , decode,both ",
            "--bootstrap-port",
            "8998");
    assertEquals(
        List.of(Role.PREFILL, Role.DECODE, Role.BOTH, Role.PREFILL),
        c.stream().map(SimEngineConfig::role).toList());
    assertEquals(List.of(0, 0, 0, 0), c.stream().map(SimEngineConfig::port).toList());
    assertEquals(8998, c.get(0).bootstrapPort());
    assertEquals(8999, c.get(3).bootstrapPort(), "the next prefill engine's is +1");

    // without --roles every replica has --role (both by default), as before
    c = configs("--replicas", "2", "--role", "decode");
    assertEquals(List.of(Role.DECODE, Role.DECODE), c.stream().map(SimEngineConfig::role).toList());
    c = configs("--replicas", "2");
    assertEquals(List.of(Role.BOTH, Role.BOTH), c.stream().map(SimEngineConfig::role).toList());
  }

  @Test
  void bootstrapTimeoutServerInfoAndTheTransferFaultReachEveryEngine() {
    SimCommand cmd =
        parse(
            "--replicas",
            "2",
            "--roles",
            "prefill,decode",
            "--bootstrap-timeout",
            "500ms",
            "--server-info",
            "legacy-only",
            "--incomplete-kv-transfer");
    SimEngineConfig base = SimEngineConfig.defaults().withFaults(cmd.faults());
    for (SimEngineConfig c : cmd.engineConfigs(base)) {
      assertEquals(Duration.ofMillis(500), c.bootstrapTimeout());
      assertEquals(SimEngineConfig.ServerInfo.LEGACY_ONLY, c.serverInfo());
      assertTrue(c.faults().incompleteKvTransfer());
    }
    SimEngineConfig d = configs("--replicas", "1").get(0);
    assertEquals(Duration.ofSeconds(30), d.bootstrapTimeout());
    assertEquals(SimEngineConfig.ServerInfo.BOTH, d.serverInfo());
    assertFalse(parse().faults().incompleteKvTransfer());
  }

  @Test
  void badPdFlagsAreRefusedWithAMessage() {
    assertTrue(
        refusal("--roles", "prefill,,decode").contains("--roles takes a comma-separated list"));
    assertTrue(refusal("--roles", "prefil").contains("--roles takes a comma-separated list"));
    assertTrue(
        refusal("--roles", "prefill,decode", "--role", "decode")
            .contains("give either --role or --roles"));
    assertTrue(refusal("--replicas", "0").contains("--replicas must be at least 1"));
    assertTrue(
        refusal("--replicas", "2", "--bootstrap-port", "9100")
            .contains("--bootstrap-port needs a prefill engine"));
    assertTrue(
        refusal("--replicas", "4", "--roles", "prefill", "--bootstrap-port", "65534")
            .contains("--bootstrap-port must leave room for 4 consecutive ports"));
    assertTrue(
        refusal(
                "--replicas",
                "4",
                "--base-port",
                "9000",
                "--roles",
                "prefill,decode",
                "--bootstrap-port",
                "9003")
            .contains("the bootstrap ports 9003-9004 overlap the engines' ports 9000-9003"));
    assertTrue(
        refusal("--bootstrap-timeout", "soon").contains("--bootstrap-timeout must be a positive"));
    assertTrue(
        refusal("--bootstrap-timeout", "0s").contains("--bootstrap-timeout must be a positive"));
    assertTrue(refusal("--server-info", "old").contains("use both, legacy-only or none"));
  }

  @Test
  @Timeout(value = 30, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
  void theCommandExitsWithTwoBeforeAnyEngineStarts() {
    String err =
        CliTest.captureErr(
            () ->
                assertEquals(
                    2,
                    Main.run(
                        "sim", "--replicas", "2", "--base-port", "0", "--roles", "prefill,nope")));
    assertTrue(err.contains("--roles takes a comma-separated list"), err);
    err =
        CliTest.captureErr(
            () ->
                assertEquals(
                    2, Main.run("sim", "--replicas", "1", "--base-port", "0", "--role", "nope")));
    assertTrue(err.contains("role 'nope' unknown"), err);
  }

  @Test
  void theFleetIsPrintedWithRolesBootstrapPortsAndServeFlags() throws Exception {
    SimCommand cmd = parse("--replicas", "3", "--base-port", "0", "--roles", "prefill,decode,both");
    Vertx vertx = Vertx.vertx();
    try {
      SimFleet fleet =
          await(
              SimFleet.start(vertx, cmd.engineConfigs(SimEngineConfig.defaults().withModel("m"))));
      List<SimEngine> e = fleet.engines();
      String out = SimCommand.describe("m", e);
      assertTrue(out.contains("kvgate sim: 3 engine(s) serving model 'm'"), out);
      assertTrue(
          out.contains(
              "  " + e.get(0).url() + "  prefill  bootstrap port " + e.get(0).bootstrapPort()),
          out);
      assertTrue(e.get(0).bootstrapPort() > 0);
      assertTrue(out.contains("  " + e.get(1).url() + "  decode" + System.lineSeparator()), out);
      assertTrue(out.contains("  " + e.get(2).url() + "  both" + System.lineSeparator()), out);
      assertTrue(
          out.contains(
              "endpoints: " + e.get(0).url() + "," + e.get(1).url() + "," + e.get(2).url()),
          out);
      assertTrue(
          out.contains(
              "serve flags: --endpoints "
                  + e.get(2).url()
                  + " --prefill-endpoints "
                  + e.get(0).url()
                  + " --decode-endpoints "
                  + e.get(1).url()),
          out);
      await(fleet.close());

      // an aggregated fleet prints no serve flags line
      SimFleet plain =
          await(
              SimFleet.start(
                  vertx,
                  parse("--replicas", "1", "--base-port", "0")
                      .engineConfigs(SimEngineConfig.defaults())));
      assertFalse(SimCommand.describe("m", plain.engines()).contains("serve flags"));
      await(plain.close());
    } finally {
      await(vertx.close());
    }
  }
}
