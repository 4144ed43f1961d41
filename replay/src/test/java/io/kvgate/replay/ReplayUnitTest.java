package io.kvgate.replay;

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ReplayUnitTest {

  private static TraceRecord rec(long ts, int input, long... ids) {
    return new TraceRecord(ts, input, 10, ids, null, null);
  }

  @Test
  void parsesBothFormsAndNamesTheBadLine(@TempDir Path dir) throws Exception {
    Path f = dir.resolve("t.jsonl");
    Files.writeString(
        f,
        """
        {"timestamp": 0, "input_length": 600, "output_length": 5, "hash_ids": [1, 2]}

        {"timestamp": 10, "path": "/v1/completions", "body": {"model": "m", "prompt": "hi", "max_tokens": 7}}
        """);
    List<TraceRecord> t = TraceReader.read(f, 0);
    assertEquals(2, t.size());
    assertArrayEquals(new long[] {1, 2}, t.get(0).hashIds());
    assertEquals("/v1/completions", t.get(1).path());
    assertEquals(7, t.get(1).outputLength());
    Files.writeString(
        f,
        "{\"timestamp\": 0, \"input_length\": 600, \"output_length\": 5, \"hash_ids\": [1, 2]}\n{oops\n");
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> TraceReader.read(f, 0));
    assertTrue(e.getMessage().contains("t.jsonl:2"), e.getMessage());
    Files.writeString(
        f, "{\"timestamp\": 0, \"input_length\": 2000, \"output_length\": 5, \"hash_ids\": [1]}\n");
    e = assertThrows(IllegalArgumentException.class, () -> TraceReader.read(f, 0));
    assertTrue(e.getMessage().contains("expected 4"), e.getMessage());
  }

  @Test
  void sharedIdsBecomeSharedBlockAlignedPrefixes() {
    HashIdText text = new HashIdText(4);
    String a = text.prompt(rec(0, 1100, 7, 8, 9));
    String b = text.prompt(rec(0, 700, 7, 10));
    assertEquals(1100 * 4, a.length());
    assertEquals(700 * 4, b.length());
    assertEquals(
        a.substring(0, 2048), b.substring(0, 2048), "shared first id, shared first 2048 chars");
    assertNotEquals(a.substring(2048, 2100), b.substring(2048, 2100));
    assertEquals(text.block(7), new HashIdText(4).block(7), "deterministic");
    assertTrue(a.startsWith(text.block(7)) && a.substring(2048).startsWith(text.block(8)));
  }

  @Test
  void oracleAndPooledOnAHandMadeTrace() {
    // Block size 256 tokens: 2 engine blocks per trace id.
    List<TraceRecord> t =
        List.of(
            rec(0, 1024, 1, 2), // 4 blocks, nothing cached
            rec(1, 1024, 1, 2), // all 4 seen, but one token is always recomputed: 3 blocks = 768
            rec(2, 768, 1, 3), // id 1 cached (2 blocks = 512), id 3's half block is new
            rec(3, 1024, 4, 5)); // new
    assertEquals((768 + 512) / (1024.0 + 1024 + 768 + 1024), CacheBounds.oracle(t, 256), 1e-12);
    // A pooled LRU of 4 blocks: request 3 inserts id 3's block, evicting id 2's (least recently
    // used after request 2 touched 1,2 tail first); request 4 evicts more. Hits as the oracle's
    // for requests 2 and 3.
    assertEquals(
        (768 + 512) / (1024.0 + 1024 + 768 + 1024), CacheBounds.pooledLru(t, 256, 4), 1e-12);
    // With room for 2 blocks, request 2 finds block 0 only if it survived: it did not (request 1
    // inserted 4 blocks into 2 slots, keeping the head pair).
    assertEquals(
        (512 + 512) / (1024.0 + 1024 + 768 + 1024), CacheBounds.pooledLru(t, 256, 2), 1e-12);
    // The TTFT floor: per request, the pooled cache's misses (1024, 256, 256, 1024 tokens with 4
    // blocks) over the prefill rate, at a quantile.
    long[] misses = CacheBounds.pooledLruUncached(t, 256, 4);
    assertArrayEquals(new long[] {1024, 256, 256, 1024}, misses);
    assertEquals(1024, CacheBounds.ttftFloorMs(misses, 1000, 0.99), 1e-9);
    assertEquals(256, CacheBounds.ttftFloorMs(misses, 1000, 0.25), 1e-9);
    assertEquals(128, CacheBounds.ttftFloorMs(misses, 2000, 0.25), 1e-9);
    assertArrayEquals(
        new long[] {1024, 256, 256, 1024}, misses, "the floor leaves its input unsorted");
  }

  @Test
  void oracleMatchesThePublishedNumberForTheSyntheticTrace() throws Exception {
    Path trace = Path.of("../../shared/traces/mooncake/synthetic_trace.jsonl");
    assumeTrue(Files.exists(trace), "shared traces not present");
    List<TraceRecord> t = TraceReader.read(trace, 0);
    assertEquals(3993, t.size());
    // traces/README.md: ideal token hit rate with vLLM semantics 0.6504 (512-token blocks).
    assertEquals(0.6504, CacheBounds.oracle(t, 512), 0.0005);
  }
}
