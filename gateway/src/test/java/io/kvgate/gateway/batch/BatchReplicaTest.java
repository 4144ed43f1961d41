package io.kvgate.gateway.batch;

import static org.junit.jupiter.api.Assertions.*;

import com.hazelcast.config.Config;
import com.hazelcast.core.Hazelcast;
import com.hazelcast.core.HazelcastInstance;
import io.vertx.core.json.JsonObject;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.UUID;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The batch lane's cluster copy on one Hazelcast member: runner fencing, claims, and a deleted
 * input file kept for the batches that still read it.
 */
class BatchReplicaTest {

  static HazelcastInstance hz;
  @TempDir Path dir;

  @BeforeAll
  static void member() {
    Config c = new Config();
    c.setClusterName("batch-replica-" + UUID.randomUUID());
    c.getNetworkConfig().getInterfaces().setEnabled(true).addInterface("127.0.0.1");
    c.getNetworkConfig().getJoin().getMulticastConfig().setEnabled(false);
    c.getNetworkConfig().getJoin().getAutoDetectionConfig().setEnabled(false);
    c.setProperty("hazelcast.phone.home.enabled", "false");
    hz = Hazelcast.newHazelcastInstance(c);
  }

  @AfterAll
  static void stop() {
    if (hz != null) hz.shutdown();
  }

  static JsonObject batch(String input, String status) {
    return new JsonObject().put("input_file_id", input).put("status", status);
  }

  @Test
  void aBatchAdoptedByAnotherMemberIsNotWrittenBackByItsFormerRunner() {
    BatchReplica r = new BatchReplica(hz);
    assertTrue(r.putIfRunner("batch_a", "k", batch("f", "in_progress")), "a new batch");
    assertTrue(r.putIfRunner("batch_a", "k", batch("f", "in_progress")), "its runner updates it");
    assertEquals(r.self(), r.batch("batch_a").runner());

    // Another member adopted it: the former runner's writes are refused and change nothing.
    r.putBatch("batch_a", "k", "other-member", batch("f", "in_progress"));
    assertFalse(r.putIfRunner("batch_a", "k", batch("f", "completed")));
    BatchReplica.Shared now = r.batch("batch_a");
    assertEquals("other-member", now.runner());
    assertEquals("in_progress", now.object().getString("status"));
  }

  @Test
  void aClaimWinsOnceAndCanBeGivenBack() {
    BatchReplica r = new BatchReplica(hz);
    r.putBatch("batch_b", "k", "gone-member", batch("f", "in_progress"));
    BatchReplica.Shared before = r.batch("batch_b");
    BatchReplica.Shared claimed = r.claim(before);
    assertNotNull(claimed);
    assertEquals(r.self(), r.batch("batch_b").runner());
    assertNull(r.claim(before), "the entry changed: a second claim on the old view loses");
    r.unclaim(claimed, before);
    assertEquals("gone-member", r.batch("batch_b").runner());
  }

  @Test
  void aDeletedInputStaysReadableUntilTheLastBatchReadingItEnds() throws Exception {
    BatchReplica r = new BatchReplica(hz);
    byte[] bytes = "x".repeat(BatchReplica.CHUNK_BYTES + 10).getBytes(StandardCharsets.UTF_8);
    Path src = dir.resolve("src");
    Files.write(src, bytes);
    BatchStore.FileRow f =
        new BatchStore.FileRow("file-c", "k", "batch", "in.jsonl", bytes.length, 1);
    r.putFile(f, src);
    r.putBatch("batch_c", "k", r.self(), batch("file-c", "in_progress"));

    r.deleteFile("file-c");
    assertNull(r.file("file-c"), "gone from the API");
    assertTrue(r.files("k").stream().noneMatch(x -> x.id().equals("file-c")));
    assertEquals(f, r.inputFile("file-c"), "kept for the batch that reads it");
    Path copy = dir.resolve("copy");
    r.readFile("file-c", copy);
    assertArrayEquals(bytes, Files.readAllBytes(copy));

    r.release("file-c");
    assertNotNull(r.inputFile("file-c"), "the batch still runs");
    r.putBatch("batch_c", "k", r.self(), batch("file-c", "completed"));
    r.release("file-c");
    assertNull(r.inputFile("file-c"), "released with the last batch that read it");
    assertThrows(java.io.IOException.class, () -> r.readFile("file-c", dir.resolve("again")));

    // Not read by any unfinished batch: deleted at once.
    r.putFile(new BatchStore.FileRow("file-d", "k", "batch", "d.jsonl", bytes.length, 2), src);
    r.deleteFile("file-d");
    assertNull(r.inputFile("file-d"));
  }
}
