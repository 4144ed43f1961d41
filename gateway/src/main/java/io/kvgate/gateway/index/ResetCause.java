package io.kvgate.gateway.index;

import java.util.Locale;

/** Why kvgate concluded that an engine's cache no longer holds what the index says. */
public enum ResetCause {
  /** Event stream: a {@code Hello} or {@code LoadReport} carried a new instance id. */
  INSTANCE_RESTART,
  /** Event stream: {@code AllBlocksCleared}. */
  ALL_BLOCKS_CLEARED,
  /** Metrics scrape: {@code process_start_time_seconds} moved. */
  PROCESS_RESTART,
  /** Metrics scrape: an engine counter ({@code *_total}) went backwards. */
  COUNTERS_RESET,
  /** Metrics scrape: {@code vllm:cache_config_info}'s labels changed. */
  CACHE_CONFIG_CHANGED,
  /** Requests: consecutive requests found far fewer cached tokens than the index predicted. */
  PHANTOM_HITS;

  /** The lower-case name used in metric tags and logs. */
  public String tag() {
    return name().toLowerCase(Locale.ROOT);
  }
}
