package io.kvgate.gateway.cli;

import io.kvgate.sim.Role;
import io.kvgate.sim.SimEngineConfig;
import picocli.CommandLine.Option;

/**
 * The simulated engine's knobs as command-line flags, shared by {@code sim}, {@code demo} and
 * {@code replay}. Every default is the engine's calibrated default (see engine-sim/README.md)
 * unless the command says otherwise.
 */
final class SimOptions {

  private static final SimEngineConfig D = SimEngineConfig.defaults();

  @Option(
      names = "--model",
      description = "Model name the engines serve (default: ${DEFAULT-VALUE}).")
  String model = D.model();

  @Option(
      names = "--block-size",
      paramLabel = "TOKENS",
      description = "KV block size in tokens (default: ${DEFAULT-VALUE}).")
  int blockSizeTokens = D.blockSizeTokens();

  @Option(
      names = "--capacity-blocks",
      paramLabel = "N",
      description = "KV blocks per engine (default: ${DEFAULT-VALUE}).")
  int capacityBlocks = D.capacityBlocks();

  @Option(
      names = "--prefill-tokens-per-s",
      paramLabel = "N",
      description =
          "Prefill throughput per engine, simulated tokens/s (default: ${DEFAULT-VALUE}).")
  double prefillTokensPerSecond = D.prefillTokensPerSecond();

  @Option(
      names = "--kv-read-tokens-per-s",
      paramLabel = "N",
      description =
          "KV-cache read rate per engine, simulated context tokens/s: a decode step lasts the"
              + " decode step time plus the batch's context tokens over this rate (default:"
              + " ${DEFAULT-VALUE}).")
  double kvReadTokensPerSecond = D.kvReadTokensPerSecond();

  @Option(
      names = "--decode-ms-per-token",
      paramLabel = "MS",
      description = "Decode step time, simulated ms (default: ${DEFAULT-VALUE}).")
  double decodeMsPerToken = D.decodeStepTime().toNanos() / 1e6;

  @Option(
      names = "--max-num-seqs",
      paramLabel = "N",
      description = "Running batch bound per engine (default: ${DEFAULT-VALUE}).")
  int maxNumSeqs = D.maxNumSeqs();

  @Option(
      names = "--max-model-len",
      paramLabel = "TOKENS",
      description = "Context length (default: ${DEFAULT-VALUE}).")
  int maxModelLen = D.maxModelLen();

  @Option(
      names = "--speed",
      description =
          "Time compression: 10 runs ten times faster than the modelled GPU (default: ${DEFAULT-VALUE}).")
  double speed = D.speed();

  @Option(
      names = "--role",
      description = "Engine role: both, prefill or decode (default: ${DEFAULT-VALUE}).")
  String role = "both";

  @Option(
      names = "--hide-cache-config",
      description =
          "Engines omit vllm:cache_config_info from /metrics, so a router must learn their KV capacity from vllm:kv_cache_usage_perc.")
  boolean hideCacheConfig;

  @Option(names = "--host", description = "Bind host of the engines (default: ${DEFAULT-VALUE}).")
  String host = "127.0.0.1";

  SimEngineConfig toConfig() {
    return SimEngineConfig.builder()
        .model(model)
        .blockSizeTokens(blockSizeTokens)
        .capacityBlocks(capacityBlocks)
        .prefillTokensPerSecond(prefillTokensPerSecond)
        .kvReadTokensPerSecond(kvReadTokensPerSecond)
        .decodeMsPerToken(decodeMsPerToken)
        .maxNumSeqs(maxNumSeqs)
        .maxModelLen(maxModelLen)
        .speed(speed)
        .role(Role.parse(role))
        .exportCacheConfigInfo(!hideCacheConfig)
        .host(host)
        .build();
  }
}
