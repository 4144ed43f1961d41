package io.kvgate.gateway.health;

import static org.junit.jupiter.api.Assertions.*;

import org.junit.jupiter.api.Test;

class EngineMetricsTextTest {

  @Test
  void vllmWithCacheConfigInfoStatesItsCapacity() {
    EngineMetricsText m =
        EngineMetricsText.parse(
            """
        # HELP vllm:cache_config_info Information of the LLMEngine CacheConfig
        # TYPE vllm:cache_config_info gauge
        vllm:cache_config_info{block_size="16",engine="0",model_name="m",num_gpu_blocks="26000"} 1.0
        vllm:num_requests_running{model_name="m",engine="0"} 3.0
        vllm:num_requests_waiting{model_name="m",engine="0"} 1.0
        vllm:kv_cache_usage_perc{model_name="m",engine="0"} 0.25
        """);
    assertTrue(m.hasLoad());
    assertEquals(3, m.running());
    assertEquals(1, m.waiting());
    assertEquals(0.25, m.kvCacheUsage());
    assertEquals(26_000L * 16, m.capacityTokens());
    assertFalse(m.hasExactUsage());
  }

  @Test
  void vllmWithoutCacheConfigInfoHasOnlyItsUsage() {
    EngineMetricsText m =
        EngineMetricsText.parse(
            """
        vllm:num_requests_running{model_name="m",engine="0"} 2.0
        vllm:num_requests_waiting{model_name="m",engine="0"} 0.0
        vllm:kv_cache_usage_perc{model_name="m",engine="0"} 0.125
        """);
    assertEquals(0, m.capacityTokens());
    assertEquals(0.125, m.kvCacheUsage());
    assertFalse(m.hasExactUsage());
  }

  @Test
  void sglangUsedTokensAndUsageGiveAnExactRatioAndMaxTotalIsAStatedCapacity() {
    String base =
        """
        sglang:num_running_reqs{model_name="m",engine_type="unified",tp_rank="0",pp_rank="0"} 4.0
        sglang:num_queue_reqs{model_name="m",engine_type="unified",tp_rank="0",pp_rank="0"} 0.0
        sglang:num_used_tokens{model_name="m",engine_type="unified",tp_rank="0",pp_rank="0"} 123859.0
        sglang:token_usage{model_name="m",engine_type="unified",tp_rank="0",pp_rank="0"} 0.5
        """;
    EngineMetricsText m = EngineMetricsText.parse(base);
    assertTrue(m.hasExactUsage());
    assertEquals(123_859, m.usedTokens());
    assertEquals(0.5, m.sglangTokenUsage());
    assertEquals(0.5, m.kvCacheUsage());
    assertEquals(0, m.capacityTokens());
    EngineMetricsText withMax =
        EngineMetricsText.parse(
            base
                + "sglang:max_total_num_tokens{model_name=\"m\",engine_type=\"unified\",tp_rank=\"0\",pp_rank=\"0\"} 247718.0\n");
    assertEquals(247_718, withMax.capacityTokens());
  }

  @Test
  void malformedLinesAreSkipped() {
    EngineMetricsText m =
        EngineMetricsText.parse(
            "vllm:kv_cache_usage_perc\nvllm:num_requests_running{a=\"b\"} x\n\n");
    assertTrue(m.hasLoad());
    assertEquals(0, m.kvCacheUsage());
    assertEquals(0, m.running());
  }
}
