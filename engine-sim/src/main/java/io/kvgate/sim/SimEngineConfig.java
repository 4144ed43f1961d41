package io.kvgate.sim;

import java.time.Duration;
import java.util.Objects;

/**
 * Configuration of one simulated engine. Defaults model Llama-3.1-8B-Instruct (BF16) served by vLLM
 * on one H100 80GB; see engine-sim/README.md for the calibration and its sources.
 *
 * <p>All durations and rates are in <em>simulated</em> time; {@code speed} divides wall time (speed
 * 10 runs ten times faster than the GPU it models). Build with {@link #builder()} or the {@code
 * withX} methods; the canonical constructor validates every field.
 *
 * @param model served model name (also the {@code model_name} metric label)
 * @param blockSizeTokens tokens per KV block (vLLM's {@code --block-size}, 16)
 * @param capacityBlocks KV blocks in the pool (vLLM's "# GPU blocks")
 * @param prefillTokensPerSecond forward-pass throughput, in tokens per simulated second
 * @param decodeStepTime the weights-read time of one engine step: its memory time before the KV
 *     reads (one decode token per running sequence costs at least this)
 * @param kvReadTokensPerSecond KV-cache read bandwidth in tokens per simulated second: a step also
 *     reads the KV of every context token of the sequences in it (see {@link EngineCore})
 * @param maxNumSeqs bound of the running batch (vLLM's {@code --max-num-seqs})
 * @param maxNumBatchedTokens token budget of one step (vLLM's {@code --max-num-batched-tokens})
 * @param maxModelLen context length: prompt plus completion tokens
 * @param defaultChatMaxTokens completion length of a chat request without max_tokens (see README)
 * @param speed time compression factor, {@code > 0}
 * @param role which leg of prefill/decode disaggregation this engine serves
 * @param kvTransferTokensPerSecond rate at which a decode engine pulls remote KV, tokens per second
 * @param bootstrapPort port of a {@link Role#PREFILL} engine's SGLang bootstrap server (0 =
 *     ephemeral); other roles run none
 * @param bootstrapTimeout how long (simulated) a {@link Role#DECODE} engine waits for an SGLang
 *     request's bootstrap room before it computes the prompt itself
 * @param serverInfo which of SGLang's {@code GET /server_info} and {@code GET /get_server_info} the
 *     engine answers
 * @param faults fault injection knobs for tests
 * @param exportCacheConfigInfo whether {@code /metrics} states the KV capacity in {@code
 *     vllm:cache_config_info} (vLLM does; SGLang, older vLLM and some proxies in front of an engine
 *     do not, and a router must then learn it from {@code vllm:kv_cache_usage_perc})
 * @param host bind host
 * @param port bind port, 0 for an ephemeral port
 * @param tls how the engine serves https, or null for plain http
 */
public record SimEngineConfig(
    String model,
    int blockSizeTokens,
    int capacityBlocks,
    double prefillTokensPerSecond,
    Duration decodeStepTime,
    double kvReadTokensPerSecond,
    int maxNumSeqs,
    int maxNumBatchedTokens,
    int maxModelLen,
    int defaultChatMaxTokens,
    double speed,
    Role role,
    double kvTransferTokensPerSecond,
    int bootstrapPort,
    Duration bootstrapTimeout,
    ServerInfo serverInfo,
    Faults faults,
    boolean exportCacheConfigInfo,
    String host,
    int port,
    SimTls tls) {

  public static final String DEFAULT_MODEL = "kvgate-sim-8b";

  public SimEngineConfig {
    Objects.requireNonNull(model, "model");
    Objects.requireNonNull(decodeStepTime, "decodeStepTime");
    Objects.requireNonNull(role, "role");
    Objects.requireNonNull(bootstrapTimeout, "bootstrapTimeout");
    Objects.requireNonNull(serverInfo, "serverInfo");
    Objects.requireNonNull(faults, "faults");
    Objects.requireNonNull(host, "host");
    require(!model.isBlank(), "model must not be blank");
    require(blockSizeTokens > 0, "blockSizeTokens must be > 0");
    require(capacityBlocks > 0, "capacityBlocks must be > 0");
    require(prefillTokensPerSecond > 0, "prefillTokensPerSecond must be > 0");
    require(!decodeStepTime.isNegative() && !decodeStepTime.isZero(), "decodeStepTime must be > 0");
    require(
        kvReadTokensPerSecond > 0 && !Double.isNaN(kvReadTokensPerSecond),
        "kvReadTokensPerSecond must be > 0");
    require(maxNumSeqs > 0, "maxNumSeqs must be > 0");
    require(maxNumBatchedTokens >= maxNumSeqs, "maxNumBatchedTokens must be >= maxNumSeqs");
    require(maxModelLen > 1, "maxModelLen must be > 1");
    require(defaultChatMaxTokens > 0, "defaultChatMaxTokens must be > 0");
    require(speed > 0 && Double.isFinite(speed), "speed must be > 0");
    require(kvTransferTokensPerSecond > 0, "kvTransferTokensPerSecond must be > 0");
    require(port >= 0 && port <= 65535, "port must be in 0..65535");
    require(bootstrapPort >= 0 && bootstrapPort <= 65535, "bootstrapPort must be in 0..65535");
    require(
        !bootstrapTimeout.isNegative() && !bootstrapTimeout.isZero(),
        "bootstrapTimeout must be > 0");
  }

  /**
   * Which SGLang server-info paths an engine answers: {@link #BOTH} {@code GET /server_info} and
   * the older {@code GET /get_server_info}, {@link #LEGACY_ONLY} only {@code /get_server_info} (an
   * older SGLang), {@link #NONE} neither (404, as vLLM).
   */
  public enum ServerInfo {
    BOTH,
    LEGACY_ONLY,
    NONE;

    /** Parses {@code both|legacy-only|none}, case-insensitive. */
    public static ServerInfo parse(String s) {
      return switch (s.trim().toLowerCase(java.util.Locale.ROOT)) {
        case "both" -> BOTH;
        case "legacy-only" -> LEGACY_ONLY;
        case "none" -> NONE;
        default ->
            throw new IllegalArgumentException(
                "server info mode '" + s + "' unknown; use both, legacy-only or none");
      };
    }
  }

  private static void require(boolean ok, String message) {
    if (!ok) throw new IllegalArgumentException(message);
  }

  /** A builder holding the calibrated defaults. */
  public static Builder builder() {
    return new Builder();
  }

  /** The calibrated defaults (Llama-3.1-8B on one H100), ephemeral port on 127.0.0.1. */
  public static SimEngineConfig defaults() {
    return builder().build();
  }

  /** A builder starting from this config. */
  public Builder toBuilder() {
    return new Builder(this);
  }

  public SimEngineConfig withModel(String v) {
    return toBuilder().model(v).build();
  }

  public SimEngineConfig withBlockSizeTokens(int v) {
    return toBuilder().blockSizeTokens(v).build();
  }

  public SimEngineConfig withCapacityBlocks(int v) {
    return toBuilder().capacityBlocks(v).build();
  }

  public SimEngineConfig withPrefillTokensPerSecond(double v) {
    return toBuilder().prefillTokensPerSecond(v).build();
  }

  public SimEngineConfig withDecodeStepTime(Duration v) {
    return toBuilder().decodeStepTime(v).build();
  }

  public SimEngineConfig withKvReadTokensPerSecond(double v) {
    return toBuilder().kvReadTokensPerSecond(v).build();
  }

  public SimEngineConfig withMaxNumSeqs(int v) {
    return toBuilder().maxNumSeqs(v).build();
  }

  public SimEngineConfig withMaxNumBatchedTokens(int v) {
    return toBuilder().maxNumBatchedTokens(v).build();
  }

  public SimEngineConfig withMaxModelLen(int v) {
    return toBuilder().maxModelLen(v).build();
  }

  public SimEngineConfig withSpeed(double v) {
    return toBuilder().speed(v).build();
  }

  public SimEngineConfig withRole(Role v) {
    return toBuilder().role(v).build();
  }

  public SimEngineConfig withKvTransferTokensPerSecond(double v) {
    return toBuilder().kvTransferTokensPerSecond(v).build();
  }

  public SimEngineConfig withBootstrapPort(int v) {
    return toBuilder().bootstrapPort(v).build();
  }

  public SimEngineConfig withBootstrapTimeout(Duration v) {
    return toBuilder().bootstrapTimeout(v).build();
  }

  public SimEngineConfig withServerInfo(ServerInfo v) {
    return toBuilder().serverInfo(v).build();
  }

  public SimEngineConfig withFaults(Faults v) {
    return toBuilder().faults(v).build();
  }

  public SimEngineConfig withExportCacheConfigInfo(boolean v) {
    return toBuilder().exportCacheConfigInfo(v).build();
  }

  public SimEngineConfig withHost(String v) {
    return toBuilder().host(v).build();
  }

  public SimEngineConfig withPort(int v) {
    return toBuilder().port(v).build();
  }

  /** {@code v} null: plain http. */
  public SimEngineConfig withTls(SimTls v) {
    return toBuilder().tls(v).build();
  }

  /**
   * Fault injection, all off by default.
   *
   * @param errorRate fraction of requests answered 500 before any work, drawn from a {@code
   *     java.util.SplittableRandom} seeded with {@code seed}
   * @param seed seed of the error draw
   * @param hangBeforeFirstByte accept requests, then answer only after this wall-clock delay
   *     ({@link Duration#ZERO} = off; a very long duration means "never")
   * @param slowStreamDelay extra wall-clock delay between streamed chunks ({@code ZERO} = off)
   * @param dieAfterRequests close the server after this many requests have been accepted; the
   *     request that reaches the limit and everything later fails at the connection (0 = off)
   * @param refuseConnections start without a listening socket: the port is reserved then closed, so
   *     connections are refused
   * @param incompleteKvTransfer answer a vLLM prefill leg ({@code do_remote_decode: true}) with
   *     {@code kv_transfer_params} missing {@code remote_block_ids}, as a misconfigured connector
   *     does (a decode engine then recomputes the prompt)
   */
  public record Faults(
      double errorRate,
      long seed,
      Duration hangBeforeFirstByte,
      Duration slowStreamDelay,
      int dieAfterRequests,
      boolean refuseConnections,
      boolean incompleteKvTransfer) {

    public static final Faults NONE =
        new Faults(0, 42, Duration.ZERO, Duration.ZERO, 0, false, false);

    public Faults {
      Objects.requireNonNull(hangBeforeFirstByte, "hangBeforeFirstByte");
      Objects.requireNonNull(slowStreamDelay, "slowStreamDelay");
      require(errorRate >= 0 && errorRate <= 1, "errorRate must be in [0, 1]");
      require(!hangBeforeFirstByte.isNegative(), "hangBeforeFirstByte must be >= 0");
      require(!slowStreamDelay.isNegative(), "slowStreamDelay must be >= 0");
      require(dieAfterRequests >= 0, "dieAfterRequests must be >= 0");
    }

    public Faults withErrorRate(double rate, long seed) {
      return new Faults(
          rate,
          seed,
          hangBeforeFirstByte,
          slowStreamDelay,
          dieAfterRequests,
          refuseConnections,
          incompleteKvTransfer);
    }

    public Faults withHangBeforeFirstByte(Duration d) {
      return new Faults(
          errorRate,
          seed,
          d,
          slowStreamDelay,
          dieAfterRequests,
          refuseConnections,
          incompleteKvTransfer);
    }

    public Faults withSlowStreamDelay(Duration d) {
      return new Faults(
          errorRate,
          seed,
          hangBeforeFirstByte,
          d,
          dieAfterRequests,
          refuseConnections,
          incompleteKvTransfer);
    }

    public Faults withDieAfterRequests(int n) {
      return new Faults(
          errorRate,
          seed,
          hangBeforeFirstByte,
          slowStreamDelay,
          n,
          refuseConnections,
          incompleteKvTransfer);
    }

    public Faults withRefuseConnections(boolean refuse) {
      return new Faults(
          errorRate,
          seed,
          hangBeforeFirstByte,
          slowStreamDelay,
          dieAfterRequests,
          refuse,
          incompleteKvTransfer);
    }

    public Faults withIncompleteKvTransfer(boolean incomplete) {
      return new Faults(
          errorRate,
          seed,
          hangBeforeFirstByte,
          slowStreamDelay,
          dieAfterRequests,
          refuseConnections,
          incomplete);
    }
  }

  /** Mutable builder; every setter maps one-to-one to a {@code kvgate sim} flag. */
  public static final class Builder {
    private String model = DEFAULT_MODEL;
    private int blockSizeTokens = 16;
    private int capacityBlocks = 26_000;
    private double prefillTokensPerSecond = 16_000;
    private Duration decodeStepTime = Duration.ofMillis(8);
    private double kvReadTokensPerSecond = 15_000_000;
    private int maxNumSeqs = 1024;
    private int maxNumBatchedTokens = 8_192;
    private int maxModelLen = 131_072;
    private int defaultChatMaxTokens = 128;
    private double speed = 1;
    private Role role = Role.BOTH;
    private double kvTransferTokensPerSecond = 200_000;
    private int bootstrapPort = 0;
    private Duration bootstrapTimeout = Duration.ofSeconds(30);
    private ServerInfo serverInfo = ServerInfo.BOTH;
    private Faults faults = Faults.NONE;
    private boolean exportCacheConfigInfo = true;
    private String host = "127.0.0.1";
    private int port = 0;
    private SimTls tls = null;

    Builder() {}

    Builder(SimEngineConfig c) {
      model = c.model;
      blockSizeTokens = c.blockSizeTokens;
      capacityBlocks = c.capacityBlocks;
      prefillTokensPerSecond = c.prefillTokensPerSecond;
      decodeStepTime = c.decodeStepTime;
      kvReadTokensPerSecond = c.kvReadTokensPerSecond;
      maxNumSeqs = c.maxNumSeqs;
      maxNumBatchedTokens = c.maxNumBatchedTokens;
      maxModelLen = c.maxModelLen;
      defaultChatMaxTokens = c.defaultChatMaxTokens;
      speed = c.speed;
      role = c.role;
      kvTransferTokensPerSecond = c.kvTransferTokensPerSecond;
      bootstrapPort = c.bootstrapPort;
      bootstrapTimeout = c.bootstrapTimeout;
      serverInfo = c.serverInfo;
      faults = c.faults;
      exportCacheConfigInfo = c.exportCacheConfigInfo;
      host = c.host;
      port = c.port;
      tls = c.tls;
    }

    public Builder model(String v) {
      model = v;
      return this;
    }

    public Builder blockSizeTokens(int v) {
      blockSizeTokens = v;
      return this;
    }

    public Builder capacityBlocks(int v) {
      capacityBlocks = v;
      return this;
    }

    public Builder prefillTokensPerSecond(double v) {
      prefillTokensPerSecond = v;
      return this;
    }

    public Builder decodeStepTime(Duration v) {
      decodeStepTime = v;
      return this;
    }

    /** Convenience for the {@code --decode-ms-per-token} flag. */
    public Builder decodeMsPerToken(double ms) {
      decodeStepTime = Duration.ofNanos(Math.round(ms * 1_000_000));
      return this;
    }

    /** KV-cache read bandwidth, tokens per simulated second (the README derives the default). */
    public Builder kvReadTokensPerSecond(double v) {
      kvReadTokensPerSecond = v;
      return this;
    }

    public Builder maxNumSeqs(int v) {
      maxNumSeqs = v;
      return this;
    }

    public Builder maxNumBatchedTokens(int v) {
      maxNumBatchedTokens = v;
      return this;
    }

    public Builder maxModelLen(int v) {
      maxModelLen = v;
      return this;
    }

    public Builder defaultChatMaxTokens(int v) {
      defaultChatMaxTokens = v;
      return this;
    }

    public Builder speed(double v) {
      speed = v;
      return this;
    }

    public Builder role(Role v) {
      role = v;
      return this;
    }

    public Builder kvTransferTokensPerSecond(double v) {
      kvTransferTokensPerSecond = v;
      return this;
    }

    /** Port of a prefill engine's bootstrap server, 0 (the default) for an ephemeral one. */
    public Builder bootstrapPort(int v) {
      bootstrapPort = v;
      return this;
    }

    /** How long (simulated) a decode engine waits for a bootstrap room; 30 s by default. */
    public Builder bootstrapTimeout(Duration v) {
      bootstrapTimeout = v;
      return this;
    }

    public Builder serverInfo(ServerInfo v) {
      serverInfo = v;
      return this;
    }

    public Builder faults(Faults v) {
      faults = v;
      return this;
    }

    /**
     * False hides {@code vllm:cache_config_info} from {@code /metrics} (the {@code
     * --hide-cache-config} flag).
     */
    public Builder exportCacheConfigInfo(boolean v) {
      exportCacheConfigInfo = v;
      return this;
    }

    public Builder host(String v) {
      host = v;
      return this;
    }

    public Builder port(int v) {
      port = v;
      return this;
    }

    /**
     * Serve https with {@code v}: {@link SimTls#bundled()} (the {@code --tls} flag) or {@link
     * SimTls#pemFiles} ({@code --tls-cert}, {@code --tls-key}); null (the default) for plain http.
     */
    public Builder tls(SimTls v) {
      tls = v;
      return this;
    }

    public SimEngineConfig build() {
      return new SimEngineConfig(
          model,
          blockSizeTokens,
          capacityBlocks,
          prefillTokensPerSecond,
          decodeStepTime,
          kvReadTokensPerSecond,
          maxNumSeqs,
          Math.max(maxNumBatchedTokens, maxNumSeqs),
          maxModelLen,
          defaultChatMaxTokens,
          speed,
          role,
          kvTransferTokensPerSecond,
          bootstrapPort,
          bootstrapTimeout,
          serverInfo,
          faults,
          exportCacheConfigInfo,
          host,
          port,
          tls);
    }
  }
}
