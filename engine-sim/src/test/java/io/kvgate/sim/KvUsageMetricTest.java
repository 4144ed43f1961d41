package io.kvgate.sim;

import static org.junit.jupiter.api.Assertions.*;

import java.util.stream.LongStream;
import org.junit.jupiter.api.Test;

/**
 * {@code vllm:kv_cache_usage_perc} as vLLM v1 computes it, and the knob that hides the capacity.
 */
class KvUsageMetricTest {

  private static long[] hashes(int seed, int n) {
    return LongStream.range(0, n).map(i -> seed * 1_000_003L + i).toArray();
  }

  @Test
  void usageCountsReferencedBlocksOnlyNotCachedFreeOnes() {
    KvBlockPool pool = new KvBlockPool(10);
    long[] a = hashes(1, 4);
    int[] ids = pool.allocate(a, 0, 4);
    pool.commitChain(ids, a, 0, 4);
    assertEquals(0.4, pool.usage(), 1e-9);
    pool.free(ids);
    // still cached, but referenced by no request: free in vLLM's BlockPool.get_usage
    assertEquals(4, pool.cachedBlocks());
    assertEquals(0.0, pool.usage(), 1e-9);
    // a request hitting 3 of them references them again, plus 2 fresh blocks
    int[] hit = pool.allocate(a, 3, 5);
    assertNotNull(hit);
    assertEquals(0.5, pool.usage(), 1e-9);
    // a second request sharing the same prefix references the shared blocks once
    int[] shared = pool.allocate(a, 3, 4);
    assertNotNull(shared);
    assertEquals(0.6, pool.usage(), 1e-9);
  }

  @Test
  void cacheConfigInfoIsRenderedUnlessHidden() {
    EngineMetrics m = new EngineMetrics(0);
    String shown = m.render("m", "0", 1, 0, 0.25, 16, 2048, 0);
    assertTrue(
        shown.contains(
            "vllm:cache_config_info{block_size=\"16\",engine=\"0\",model_name=\"m\",num_gpu_blocks=\"2048\"} 1.0"),
        shown);
    String hidden = m.render("m", "0", 1, 0, 0.25, 16, 0, 0);
    assertFalse(hidden.contains("cache_config_info"), hidden);
    assertTrue(
        hidden.contains("vllm:kv_cache_usage_perc{model_name=\"m\",engine=\"0\"} 0.25"), hidden);
  }

  @Test
  void configKnobDefaultsToExportingAndSurvivesTheBuilder() {
    assertTrue(SimEngineConfig.defaults().exportCacheConfigInfo());
    SimEngineConfig hidden = SimEngineConfig.builder().exportCacheConfigInfo(false).build();
    assertFalse(hidden.exportCacheConfigInfo());
    assertFalse(hidden.withSpeed(5).exportCacheConfigInfo());
    assertTrue(hidden.withExportCacheConfigInfo(true).exportCacheConfigInfo());
  }
}
