package io.kvgate.gateway.batch;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.file.Path;
import java.sql.SQLException;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The batch lane's store: a failed write leaves nothing behind, and a line ends once. */
class BatchStoreTest {

  @TempDir Path dir;

  static BatchStore.LineRow line(int idx) {
    return new BatchStore.LineRow(idx, "req-" + idx, idx * 100L, 100, idx);
  }

  @Test
  void aFailedTransactionIsRolledBackWholeAndTheNextCommitsAlone() throws Exception {
    try (BatchStore s = new BatchStore(dir)) {
      s.insertBatch("batch_1", "k", "validating", "{}");
      s.putLines("batch_1", List.of(line(0), line(1)), "in_progress", "{\"v\":1}");

      // Two lines with one index: the insert fails after the old lines were deleted and before the
      // status was set; none of it may stay in the connection's transaction.
      assertThrows(
          SQLException.class,
          () -> s.putLines("batch_1", List.of(line(5), line(5)), "failed", "{\"v\":2}"));
      assertEquals(List.of(0, 1), s.pending("batch_1"));
      assertEquals("in_progress", s.batch("batch_1").status());

      assertArrayEquals(
          new boolean[] {true},
          s.finish(List.of(new BatchStore.Finish("batch_1", 0, BatchStore.OK, "{\"r\":0}"))));
    }
    // What was committed is what a restart finds: the rolled-back delete did not ride along.
    try (BatchStore s = new BatchStore(dir)) {
      assertEquals(List.of(1), s.pending("batch_1"));
      assertArrayEquals(new long[] {1, 1, 0}, s.counts("batch_1"));
    }
  }

  @Test
  void aLineEndsOnceAndAnExpiringBatchIsMarkedWithItsRecords() throws Exception {
    try (BatchStore s = new BatchStore(dir)) {
      s.insertBatch("batch_2", "k", "validating", "{}");
      s.putLines("batch_2", List.of(line(0), line(1)), "in_progress", "{}");
      assertArrayEquals(
          new boolean[] {true},
          s.finish(List.of(new BatchStore.Finish("batch_2", 0, BatchStore.OK, "{\"r\":\"a\"}"))));
      // The same line answered again (run twice across a restart): not recorded again.
      assertArrayEquals(
          new boolean[] {false, true},
          s.finish(
              List.of(
                  new BatchStore.Finish("batch_2", 0, BatchStore.ERROR, "{\"r\":\"b\"}"),
                  new BatchStore.Finish("batch_2", 1, BatchStore.ERROR, "{\"r\":\"c\"}")),
              "batch_2",
              "expiring"));
      assertEquals("expiring", s.batch("batch_2").status());
      assertEquals(
          List.of("batch_2"), s.unfinished().stream().map(BatchStore.BatchRow::id).toList());
      StringBuilder ok = new StringBuilder();
      s.records("batch_2", BatchStore.OK, ok::append);
      assertEquals("{\"r\":\"a\"}", ok.toString());
      s.setStatus("batch_2", "handed_over");
      assertTrue(s.unfinished().isEmpty(), "a batch another gateway runs is not resumed here");
    }
  }
}
