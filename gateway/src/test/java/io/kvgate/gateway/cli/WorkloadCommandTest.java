package io.kvgate.gateway.cli;

import static org.junit.jupiter.api.Assertions.*;

import io.kvgate.replay.TraceReader;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class WorkloadCommandTest {

  @Test
  void writesAReplayableTraceAndDescribesIt(@TempDir Path dir) throws Exception {
    Path f = dir.resolve("mt.jsonl");
    int[] code = {-1};
    String out =
        CliTest.capture(
            () ->
                code[0] =
                    Main.run(
                        "workload",
                        "multi-tenant",
                        "--out",
                        f.toString(),
                        "--tenants",
                        "4",
                        "--sessions",
                        "40",
                        "--seed",
                        "3",
                        "--capacity-blocks",
                        "1000"));
    assertEquals(0, code[0], out);
    assertTrue(
        out.contains("40 sessions, 4 tenants")
            && out.contains("infinite-cache oracle")
            && out.contains("live at peak")
            && out.contains("4 x 1000 blocks"),
        out);
    String first = Files.readString(f);
    assertTrue(TraceReader.read(f, 0).size() >= 80);
    CliTest.capture(
        () ->
            Main.run(
                "workload",
                "multi-tenant",
                "--out",
                f.toString(),
                "--tenants",
                "4",
                "--sessions",
                "40",
                "--seed",
                "3"));
    assertEquals(first, Files.readString(f), "same flags, same file");
  }

  @Test
  void helpListsTheWorkloadAndItsDefaults() {
    String top = CliTest.capture(() -> Main.run("--help"));
    assertTrue(top.contains("workload"), top);
    String help = CliTest.capture(() -> Main.run("workload", "multi-tenant", "--help"));
    assertTrue(
        help.contains("--tenants")
            && help.contains("default: 24")
            && help.contains("--session-rate"),
        help);
  }
}
