package io.kvgate.gateway.config;

import static io.kvgate.gateway.config.ClusterConfigTest.MODELS;
import static io.kvgate.gateway.config.ClusterConfigTest.refusedWith;
import static org.junit.jupiter.api.Assertions.*;

import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/** The {@code batch:} section of gateway.yaml: what it parses into, and what it refuses. */
class BatchConfigTest {

  static GatewayConfig.Batch parse(String rest) throws Exception {
    return GatewayConfigLoader.parse(MODELS + rest, "t.yaml").batch();
  }

  @Test
  void onByDefaultFromAFileUnderKvgateData() throws Exception {
    GatewayConfig.Batch b = parse("");
    assertEquals(GatewayConfig.Batch.DEFAULT, b);
    assertTrue(b.enabled());
    assertEquals(Path.of("kvgate-data"), b.dataDir());
  }

  @Test
  void everyKeyParses() throws Exception {
    GatewayConfig.Batch b =
        parse(
            """
            batch:
              enabled: true
              dataDir: /var/lib/kvgate
              maxFileBytes: 1000000
              maxLinesPerFile: 100
              maxCompletionWindow: 2h
              maxInFlight: 8
              preemption: false
              watermark: {maxInFlight: 6, maxQueuedPrefillTokens: 2048, maxKvUtilization: 0.75}
            """);
    assertEquals(
        new GatewayConfig.Batch(
            true,
            Path.of("/var/lib/kvgate"),
            1_000_000,
            100,
            Duration.ofHours(2),
            8,
            false,
            new GatewayConfig.Watermark(6, 2048, 0.75)),
        b);
    assertFalse(parse("batch: {enabled: false}\n").enabled());
  }

  @Test
  void refusalsNameTheirPath() {
    refusedWith("batch: {queue: 3}\n", "batch.queue");
    refusedWith("batch: {watermark: {slots: 3}}\n", "batch.watermark.slots");
    refusedWith("batch: {watermark: {maxInFlight: 1}}\n", "batch.watermark.maxInFlight");
    refusedWith(
        "batch: {watermark: {maxKvUtilization: 1.5}}\n", "batch.watermark.maxKvUtilization");
    refusedWith("batch: {dataDir: \"\"}\n", "batch.dataDir");
    refusedWith("batch: {maxInFlight: 0}\n", "batch.maxInFlight");
    refusedWith("batch: {maxFileBytes: 0}\n", "batch.maxFileBytes");
    refusedWith("batch: {maxCompletionWindow: 500ms}\n", "batch.maxCompletionWindow");
    refusedWith("batch: {preemption: maybe}\n", "batch.preemption");
  }

  @Test
  void theLanesLoopbackConnectionsMustFitUnderThePerClientCap() throws Exception {
    // One loopback connection per line in flight: by default half the cap, an explicit value
    // must stay below it.
    assertEquals(16, parse("listener: {maxConnectionsPerClient: 32}\n").maxInFlight());
    assertEquals(64, parse("listener: {maxConnectionsPerClient: 1000}\n").maxInFlight());
    refusedWith(
        "listener: {maxConnectionsPerClient: 32}\nbatch: {maxInFlight: 32}\n", "batch.maxInFlight");
    refusedWith(
        "listener: {maxConnectionsPerClient: 100}\nbatch: {maxInFlight: 100}\n",
        "batch.maxInFlight");
    assertEquals(
        31,
        parse("listener: {maxConnectionsPerClient: 32}\nbatch: {maxInFlight: 31}\n").maxInFlight());
    assertFalse(
        parse("listener: {maxConnectionsPerClient: 32}\nbatch: {enabled: false}\n").enabled());
  }
}
