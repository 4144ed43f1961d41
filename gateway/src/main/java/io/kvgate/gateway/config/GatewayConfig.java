package io.kvgate.gateway.config;

import io.kvgate.gateway.openai.OpenAiRequestParser;
import io.kvgate.routing.Endpoint;
import java.net.URI;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * The whole gateway configuration, immutable. Built from YAML by {@link GatewayConfigLoader} or in
 * code (the demo, tests and the trace replay) with {@link #of(String, List, String)} and the {@code
 * with*} methods. Every duration is a {@link Duration}; every size names its unit.
 */
public record GatewayConfig(
    Listener listener,
    List<Model> models,
    Routing routing,
    Timeouts timeouts,
    Limits limits,
    Health health,
    Pool pool,
    Api api,
    Auth auth,
    Admin admin,
    Drain drain,
    Logging logging,
    Grpc grpc,
    Cluster cluster,
    Batch batch) {

  public GatewayConfig {
    Objects.requireNonNull(listener);
    models = List.copyOf(models);
    Objects.requireNonNull(routing);
    Objects.requireNonNull(timeouts);
    Objects.requireNonNull(limits);
    Objects.requireNonNull(health);
    Objects.requireNonNull(pool);
    Objects.requireNonNull(api);
    Objects.requireNonNull(auth);
    Objects.requireNonNull(admin);
    Objects.requireNonNull(drain);
    Objects.requireNonNull(logging);
    Objects.requireNonNull(grpc);
    Objects.requireNonNull(cluster);
    Objects.requireNonNull(batch);
  }

  /** A configuration with the batch lane off. */
  public GatewayConfig(
      Listener listener,
      List<Model> models,
      Routing routing,
      Timeouts timeouts,
      Limits limits,
      Health health,
      Pool pool,
      Api api,
      Auth auth,
      Admin admin,
      Drain drain,
      Logging logging,
      Grpc grpc,
      Cluster cluster) {
    this(
        listener, models, routing, timeouts, limits, health, pool, api, auth, admin, drain, logging,
        grpc, cluster, Batch.OFF);
  }

  /** A configuration with clustering off. */
  public GatewayConfig(
      Listener listener,
      List<Model> models,
      Routing routing,
      Timeouts timeouts,
      Limits limits,
      Health health,
      Pool pool,
      Api api,
      Auth auth,
      Admin admin,
      Drain drain,
      Logging logging,
      Grpc grpc) {
    this(
        listener,
        models,
        routing,
        timeouts,
        limits,
        health,
        pool,
        api,
        auth,
        admin,
        drain,
        logging,
        grpc,
        Cluster.OFF);
  }

  /** A configuration without a gRPC listener. */
  public GatewayConfig(
      Listener listener,
      List<Model> models,
      Routing routing,
      Timeouts timeouts,
      Limits limits,
      Health health,
      Pool pool,
      Api api,
      Auth auth,
      Admin admin,
      Drain drain,
      Logging logging) {
    this(
        listener, models, routing, timeouts, limits, health, pool, api, auth, admin, drain, logging,
        Grpc.OFF);
  }

  /** A configuration with the default {@link Logging}. */
  public GatewayConfig(
      Listener listener,
      List<Model> models,
      Routing routing,
      Timeouts timeouts,
      Limits limits,
      Health health,
      Pool pool,
      Api api,
      Auth auth,
      Admin admin,
      Drain drain) {
    this(
        listener,
        models,
        routing,
        timeouts,
        limits,
        health,
        pool,
        api,
        auth,
        admin,
        drain,
        Logging.DEFAULT);
  }

  /** A configuration without client keys, with the default admin listener and drain. */
  public GatewayConfig(
      Listener listener,
      List<Model> models,
      Routing routing,
      Timeouts timeouts,
      Limits limits,
      Health health,
      Pool pool,
      Api api) {
    this(
        listener,
        models,
        routing,
        timeouts,
        limits,
        health,
        pool,
        api,
        Auth.NONE,
        Admin.DEFAULT,
        Drain.DEFAULT);
  }

  /** A configuration with the default {@link Api}. */
  public GatewayConfig(
      Listener listener,
      List<Model> models,
      Routing routing,
      Timeouts timeouts,
      Limits limits,
      Health health,
      Pool pool) {
    this(listener, models, routing, timeouts, limits, health, pool, Api.DEFAULT);
  }

  /**
   * One model served by the given endpoints (aggregated role, no labels) with defaults elsewhere.
   */
  public static GatewayConfig of(String model, List<String> endpointUrls, String policy) {
    List<Endpoint> endpoints =
        endpointUrls.stream().map(u -> Endpoint.of(model, URI.create(u))).toList();
    return new GatewayConfig(
        Listener.DEFAULT,
        List.of(new Model(model, policy, Set.of(), endpoints)),
        Routing.DEFAULT,
        Timeouts.DEFAULT,
        Limits.DEFAULT,
        Health.DEFAULT,
        Pool.DEFAULT);
  }

  /**
   * The quick form of a disaggregated model: prefill, decode and {@code both} endpoints by URL.
   *
   * @throws IllegalArgumentException if the decode or prefill list is empty or a URL repeats
   */
  public static GatewayConfig disaggregated(
      String model,
      PdProtocol protocol,
      List<String> prefillUrls,
      List<String> decodeUrls,
      List<String> bothUrls,
      String policy) {
    if (prefillUrls.isEmpty()) throw new IllegalArgumentException("no prefill endpoint");
    if (decodeUrls.isEmpty()) throw new IllegalArgumentException("no decode endpoint");
    List<Endpoint> endpoints = new java.util.ArrayList<>();
    Set<String> ids = new java.util.HashSet<>();
    Map<io.kvgate.routing.Role, List<String>> byRole = new java.util.LinkedHashMap<>();
    byRole.put(io.kvgate.routing.Role.PREFILL, prefillUrls);
    byRole.put(io.kvgate.routing.Role.DECODE, decodeUrls);
    byRole.put(io.kvgate.routing.Role.BOTH, bothUrls);
    byRole.forEach(
        (role, urls) -> {
          for (String u : urls) {
            URI uri = URI.create(u);
            String id = Endpoint.defaultId(uri);
            if (!ids.add(id))
              throw new IllegalArgumentException("endpoint " + id + " is listed twice");
            endpoints.add(new Endpoint(id, uri, model, role, Map.of(), 1.0, Set.of()));
          }
        });
    Model m =
        new Model(model, policy, Set.of(), endpoints, Map.of(), Map.of(), Map.of())
            .withPd(Pd.OFF.withProtocol(protocol));
    return of(model, List.of(), policy).withModels(List.of(m));
  }

  public GatewayConfig withListener(Listener l) {
    return new GatewayConfig(
        l, models, routing, timeouts, limits, health, pool, api, auth, admin, drain, logging, grpc,
        cluster, batch);
  }

  public GatewayConfig withRouting(Routing r) {
    return new GatewayConfig(
        listener, models, r, timeouts, limits, health, pool, api, auth, admin, drain, logging, grpc,
        cluster, batch);
  }

  public GatewayConfig withTimeouts(Timeouts t) {
    return new GatewayConfig(
        listener, models, routing, t, limits, health, pool, api, auth, admin, drain, logging, grpc,
        cluster, batch);
  }

  public GatewayConfig withLimits(Limits l) {
    return new GatewayConfig(
        listener, models, routing, timeouts, l, health, pool, api, auth, admin, drain, logging,
        grpc, cluster, batch);
  }

  public GatewayConfig withModels(List<Model> m) {
    return new GatewayConfig(
        listener, m, routing, timeouts, limits, health, pool, api, auth, admin, drain, logging,
        grpc, cluster, batch);
  }

  public GatewayConfig withApi(Api a) {
    return new GatewayConfig(
        listener, models, routing, timeouts, limits, health, pool, a, auth, admin, drain, logging,
        grpc, cluster, batch);
  }

  public GatewayConfig withAuth(Auth a) {
    return new GatewayConfig(
        listener, models, routing, timeouts, limits, health, pool, api, a, admin, drain, logging,
        grpc, cluster, batch);
  }

  public GatewayConfig withAdmin(Admin a) {
    return new GatewayConfig(
        listener, models, routing, timeouts, limits, health, pool, api, auth, a, drain, logging,
        grpc, cluster, batch);
  }

  public GatewayConfig withDrain(Drain d) {
    return new GatewayConfig(
        listener, models, routing, timeouts, limits, health, pool, api, auth, admin, d, logging,
        grpc, cluster, batch);
  }

  public GatewayConfig withHealth(Health h) {
    return new GatewayConfig(
        listener, models, routing, timeouts, limits, h, pool, api, auth, admin, drain, logging,
        grpc, cluster, batch);
  }

  public GatewayConfig withGrpc(Grpc g) {
    return new GatewayConfig(
        listener, models, routing, timeouts, limits, health, pool, api, auth, admin, drain, logging,
        g, cluster, batch);
  }

  public GatewayConfig withCluster(Cluster c) {
    return new GatewayConfig(
        listener, models, routing, timeouts, limits, health, pool, api, auth, admin, drain, logging,
        grpc, c, batch);
  }

  public GatewayConfig withBatch(Batch b) {
    return new GatewayConfig(
        listener, models, routing, timeouts, limits, health, pool, api, auth, admin, drain, logging,
        grpc, cluster, b);
  }

  public GatewayConfig withLogging(Logging l) {
    return new GatewayConfig(
        listener, models, routing, timeouts, limits, health, pool, api, auth, admin, drain, l, grpc,
        cluster, batch);
  }

  /**
   * Logging of the request path.
   *
   * @param maxLinesPerInterval error, warning and health lines printed per category ({@code
   *     upstream}, {@code health}, {@code policy}, {@code index}) and {@code interval}; the lines
   *     beyond are counted ({@code kvgate_log_suppressed_total}) and reported in one line when the
   *     interval ends
   * @param interval the interval of {@code maxLinesPerInterval}
   * @param accessLog the sampled access log
   */
  public record Logging(int maxLinesPerInterval, Duration interval, AccessLog accessLog) {
    public static final Logging DEFAULT = new Logging(10, Duration.ofSeconds(10), AccessLog.OFF);

    public Logging {
      if (maxLinesPerInterval < 0)
        throw new IllegalArgumentException("maxLinesPerInterval must be >= 0");
      if (interval.isNegative() || interval.isZero())
        throw new IllegalArgumentException("interval must be > 0");
      Objects.requireNonNull(accessLog);
    }

    public Logging withAccessLog(AccessLog a) {
      return new Logging(maxLinesPerInterval, interval, a);
    }
  }

  /**
   * The access log: one JSON line per sampled request forwarded to a model, to the logger {@code
   * kvgate.access}.
   *
   * @param sampleRate share of requests logged, 0 (off) to 1 (all)
   * @param errorsAlways log every request answered 5xx (or whose client went away, 499), sampled or
   *     not
   */
  public record AccessLog(double sampleRate, boolean errorsAlways) {
    public static final AccessLog OFF = new AccessLog(0, false);

    public AccessLog {
      if (!(sampleRate >= 0 && sampleRate <= 1))
        throw new IllegalArgumentException("sampleRate must be in [0, 1] (got " + sampleRate + ")");
    }

    public boolean enabled() {
      return sampleRate > 0 || errorsAlways;
    }
  }

  /**
   * Where the gateway listens; {@code port} 0 = ephemeral.
   *
   * @param maxConnections client connections open at once; a connection beyond the cap gets one 503
   *     {@code too_many_connections} answer (or is closed after 1 s without a request), so that
   *     idle or slow clients cannot exhaust the process's file descriptors
   * @param eventLoops how many event loops serve client connections: one HTTP server instance per
   *     loop on the same port, connections spread round-robin (Vert.x server sharing); default one
   *     per available processor, like nginx's {@code worker_processes auto}
   * @param connections how long a client may take to send a request, how long a kept-alive
   *     connection may stay silent, how large a request head may be, connections per client
   * @param tls the certificate and key the listener serves https with; null = plain HTTP
   */
  public record Listener(
      String host,
      int port,
      int eventLoops,
      int maxConnections,
      ClientConnections connections,
      ServerTls tls) {
    public static final int DEFAULT_MAX_CONNECTIONS = 8192;
    public static final Listener DEFAULT = new Listener("0.0.0.0", 8080);

    public Listener {
      if (eventLoops < 1)
        throw new IllegalArgumentException(
            "eventLoops must be at least 1 (got " + eventLoops + ")");
      if (maxConnections < 1)
        throw new IllegalArgumentException(
            "maxConnections must be at least 1 (got " + maxConnections + ")");
      Objects.requireNonNull(connections);
    }

    /** Default connection timeouts and sizes, plain HTTP. */
    public Listener(String host, int port, int eventLoops, int maxConnections) {
      this(host, port, eventLoops, maxConnections, ClientConnections.DEFAULT, null);
    }

    /** The default connection cap. */
    public Listener(String host, int port, int eventLoops) {
      this(host, port, eventLoops, DEFAULT_MAX_CONNECTIONS);
    }

    /** One event loop per available processor, the default connection cap. */
    public Listener(String host, int port) {
      this(host, port, defaultEventLoops());
    }

    public Listener withEventLoops(int n) {
      return new Listener(host, port, n, maxConnections, connections, tls);
    }

    public Listener withMaxConnections(int n) {
      return new Listener(host, port, eventLoops, n, connections, tls);
    }

    public Listener withAddress(String host, int port) {
      return new Listener(host, port, eventLoops, maxConnections, connections, tls);
    }

    public Listener withConnections(ClientConnections c) {
      return new Listener(host, port, eventLoops, maxConnections, c, tls);
    }

    /** Serves https with {@code t}, or plain HTTP when null. */
    public Listener withTls(ServerTls t) {
      return new Listener(host, port, eventLoops, maxConnections, connections, t);
    }

    public static int defaultEventLoops() {
      return Runtime.getRuntime().availableProcessors();
    }
  }

  /**
   * What a client connection may cost the gateway (the {@code listener.*} timeouts and sizes).
   *
   * @param headerTimeout from a new connection's accept, or from the first byte of a further
   *     request on a kept-alive connection, to the end of the request head: 408 {@code
   *     request_timeout} and closed beyond it (a connection that sent nothing is just closed)
   * @param bodyTimeout from the end of the request head to the end of its body: 408 {@code
   *     request_timeout} and closed beyond it
   * @param idleTimeout how long a kept-alive connection with no request in flight may stay silent
   *     before it is closed; never applies while a request is in flight, however long its response
   *     takes
   * @param maxHeaderBytes largest request head (all header lines): 431 beyond it
   * @param maxUriBytes longest request target: 414 beyond it
   * @param maxConnectionsPerClient connections one client address may hold open; beyond it the
   *     client's new connection gets 503 {@code too_many_connections}; 0 = no per-client cap (the
   *     default, since behind a load balancer or NAT every client shares a few addresses)
   */
  public record ClientConnections(
      Duration headerTimeout,
      Duration bodyTimeout,
      Duration idleTimeout,
      int maxHeaderBytes,
      int maxUriBytes,
      int maxConnectionsPerClient) {
    public static final ClientConnections DEFAULT =
        new ClientConnections(
            Duration.ofSeconds(10),
            Duration.ofSeconds(60),
            Duration.ofSeconds(120),
            64 * 1024,
            8 * 1024,
            0);

    public ClientConnections {
      for (Duration d : List.of(headerTimeout, bodyTimeout, idleTimeout)) {
        if (d.isNegative() || d.isZero())
          throw new IllegalArgumentException("listener timeouts must be positive (got " + d + ")");
      }
      if (maxHeaderBytes < 1024 || maxUriBytes < 256)
        throw new IllegalArgumentException(
            "maxHeaderBytes must be at least 1024 and maxUriBytes at least 256");
      if (maxConnectionsPerClient < 0)
        throw new IllegalArgumentException("maxConnectionsPerClient must be at least 0");
    }

    public ClientConnections withTimeouts(Duration header, Duration body, Duration idle) {
      return new ClientConnections(
          header, body, idle, maxHeaderBytes, maxUriBytes, maxConnectionsPerClient);
    }

    public ClientConnections withMaxBytes(int headerBytes, int uriBytes) {
      return new ClientConnections(
          headerTimeout, bodyTimeout, idleTimeout, headerBytes, uriBytes, maxConnectionsPerClient);
    }

    public ClientConnections withMaxConnectionsPerClient(int n) {
      return new ClientConnections(
          headerTimeout, bodyTimeout, idleTimeout, maxHeaderBytes, maxUriBytes, n);
    }
  }

  /**
   * A listener's https identity, read from PEM files when the listener starts (checked at load by
   * {@link GatewayConfigLoader}).
   *
   * @param certFile the certificate chain, PEM, the server's own certificate first
   * @param keyFile the certificate's private key, PEM (PKCS#8 {@code PRIVATE KEY} or PKCS#1 {@code
   *     RSA PRIVATE KEY}), unencrypted
   */
  public record ServerTls(String certFile, String keyFile) {
    public ServerTls {
      Objects.requireNonNull(certFile, "certFile");
      Objects.requireNonNull(keyFile, "keyFile");
    }
  }

  /**
   * A model and its endpoints.
   *
   * @param name the model name clients send
   * @param policy a preset policy name or a policy file path (hot-reloaded when a file)
   * @param adapters LoRA adapter names served under this model: a request naming an adapter as its
   *     {@code model} is routed within this model's fleet, preferring endpoints that have it loaded
   * @param endpoints the replicas
   * @param capacityBlocks KV capacity in gateway blocks configured per endpoint id (the top of the
   *     capacity precedence: configured &gt; engine-stated &gt; learned &gt; default); endpoints
   *     without an entry are sized from their engine
   * @param apiKeys the key each endpoint's engine was started with (vLLM {@code --api-key}), by
   *     endpoint id: sent as {@code Authorization: Bearer} on every request kvgate makes to it
   * @param tls TLS trust settings per https endpoint id (the config file's {@code upstreamTls}
   *     merged with the endpoint's own {@code tls}); endpoints without an entry trust the JVM's
   *     default trust store and verify the host name
   */
  public record Model(
      String name,
      String policy,
      Set<String> adapters,
      List<Endpoint> endpoints,
      Map<String, Long> capacityBlocks,
      Map<String, UpstreamTls> tls,
      Map<String, String> apiKeys,
      Pd pd,
      Map<String, Integer> bootstrapPorts) {
    public Model {
      adapters = Set.copyOf(adapters);
      endpoints = List.copyOf(endpoints);
      capacityBlocks = Map.copyOf(capacityBlocks);
      tls = Map.copyOf(tls);
      apiKeys = Map.copyOf(apiKeys);
      pd = pd == null ? Pd.OFF : pd;
      bootstrapPorts = Map.copyOf(bootstrapPorts);
    }

    public Model(
        String name,
        String policy,
        Set<String> adapters,
        List<Endpoint> endpoints,
        Map<String, Long> capacityBlocks,
        Map<String, UpstreamTls> tls,
        Map<String, String> apiKeys) {
      this(name, policy, adapters, endpoints, capacityBlocks, tls, apiKeys, Pd.OFF, Map.of());
    }

    /** This model with disaggregated serving set to {@code pd}. */
    public Model withPd(Pd pd) {
      return new Model(
          name, policy, adapters, endpoints, capacityBlocks, tls, apiKeys, pd, bootstrapPorts);
    }

    /** The endpoints of one role. */
    public List<Endpoint> endpoints(io.kvgate.routing.Role role) {
      return endpoints.stream().filter(e -> e.role() == role).toList();
    }

    public Model(
        String name,
        String policy,
        Set<String> adapters,
        List<Endpoint> endpoints,
        Map<String, Long> capacityBlocks,
        Map<String, UpstreamTls> tls) {
      this(name, policy, adapters, endpoints, capacityBlocks, tls, Map.of());
    }

    /** Keys are never printed. */
    @Override
    public String toString() {
      return "Model[" + name + ", policy=" + policy + ", endpoints=" + endpoints + "]";
    }

    public Model(
        String name,
        String policy,
        Set<String> adapters,
        List<Endpoint> endpoints,
        Map<String, Long> capacityBlocks) {
      this(name, policy, adapters, endpoints, capacityBlocks, Map.of());
    }

    /** The TLS settings of an https endpoint: its own, else the JVM's trust store. */
    public UpstreamTls tls(Endpoint e) {
      return tls.getOrDefault(e.id(), UpstreamTls.DEFAULT);
    }

    public Model(String name, String policy, Set<String> adapters, List<Endpoint> endpoints) {
      this(name, policy, adapters, endpoints, Map.of());
    }
  }

  /** The wire protocol kvgate speaks to a model's prefill and decode engines. */
  public enum PdProtocol {
    /**
     * vLLM's {@code kv_transfer_params} (NixlConnector): the prefill leg first, its answer's
     * parameters into the decode leg.
     */
    VLLM,
    /**
     * SGLang's bootstrap: the same body plus {@code bootstrap_host/port/room} to both engines at
     * once.
     */
    SGLANG;

    public String wireName() {
      return name().toLowerCase(java.util.Locale.ROOT);
    }

    /** Parses {@code vllm} or {@code sglang}. */
    public static PdProtocol parse(String s) {
      for (PdProtocol p : values()) if (p.wireName().equals(s)) return p;
      throw new IllegalArgumentException("must be vllm or sglang (got '" + s + "')");
    }
  }

  /**
   * Prefill/decode disaggregation of one model ({@code models[i].pd}).
   *
   * @param protocol the engines' protocol; null: the model is not disaggregated (every endpoint has
   *     role {@code both})
   * @param minUncachedTokens a request whose prompt tokens not cached on its chosen decode endpoint
   *     (by the prefix index) are fewer than this runs whole on that endpoint, skipping the prefill
   *     pool; 0 disaggregates every request
   * @param fallbackAggregate when no prefill endpoint can take a request: true serves it whole on
   *     the decode side ({@code pd.fallback: aggregate}), false answers 503 ({@code fail})
   * @param maxPrefillAttempts prefill endpoints tried for one request before the fallback
   * @param prefillTimeout how long a prefill leg may take to answer (vLLM: its whole answer)
   * @param maxPrefillResponseBytes bound of a vLLM prefill leg's answer, read whole
   */
  public record Pd(
      PdProtocol protocol,
      long minUncachedTokens,
      boolean fallbackAggregate,
      int maxPrefillAttempts,
      Duration prefillTimeout,
      long maxPrefillResponseBytes) {

    /** Not disaggregated; its other values are the defaults of a model's {@code pd}. */
    public static final Pd OFF = new Pd(null, 256, true, 2, Duration.ofSeconds(120), 1L << 20);

    public boolean enabled() {
      return protocol != null;
    }

    public Pd withProtocol(PdProtocol p) {
      return new Pd(
          p,
          minUncachedTokens,
          fallbackAggregate,
          maxPrefillAttempts,
          prefillTimeout,
          maxPrefillResponseBytes);
    }

    public Pd withMinUncachedTokens(long tokens) {
      return new Pd(
          protocol,
          tokens,
          fallbackAggregate,
          maxPrefillAttempts,
          prefillTimeout,
          maxPrefillResponseBytes);
    }

    public Pd withFallbackAggregate(boolean aggregate) {
      return new Pd(
          protocol,
          minUncachedTokens,
          aggregate,
          maxPrefillAttempts,
          prefillTimeout,
          maxPrefillResponseBytes);
    }
  }

  /**
   * How requests are keyed and how the prefix index models the engines' caches.
   *
   * @param blockSizeTokens tokens per hashed block (match the engines' KV block size, vLLM: 16)
   * @param charsPerToken characters per token used to size blocks in characters and to estimate
   *     prompt tokens without a tokenizer
   * @param capacityBlocks blocks each endpoint is assumed to cache (its KV capacity) until learned
   * @param indexTtl how long an untouched block is believed cached
   * @param signalsInterval how often each engine's {@code /metrics} is scraped for load signals
   * @param segmentCacheBytes bound of the memory that remembers already-hashed long messages (see
   *     {@link io.kvgate.routing.prefix.SegmentHashCache})
   */
  public record Routing(
      int blockSizeTokens,
      int charsPerToken,
      long capacityBlocks,
      Duration indexTtl,
      Duration signalsInterval,
      long segmentCacheBytes) {
    public static final Routing DEFAULT =
        new Routing(16, 4, 26_000, Duration.ofMinutes(10), Duration.ofSeconds(1), 64L << 20);

    public int blockSizeChars() {
      return blockSizeTokens * charsPerToken;
    }

    public Routing withCharsPerToken(int chars) {
      return new Routing(
          blockSizeTokens, chars, capacityBlocks, indexTtl, signalsInterval, segmentCacheBytes);
    }
  }

  /**
   * Upstream timeouts.
   *
   * @param connect to open a connection
   * @param firstByte from sending the request to the response head (includes queueing and, for
   *     non-streaming requests, the whole generation)
   * @param idle the longest silence between two chunks of a response body
   * @param total the whole exchange
   */
  public record Timeouts(Duration connect, Duration firstByte, Duration idle, Duration total) {
    public static final Timeouts DEFAULT =
        new Timeouts(
            Duration.ofSeconds(2),
            Duration.ofSeconds(300),
            Duration.ofSeconds(60),
            Duration.ofMinutes(30));
  }

  /**
   * @param maxBodyBytes largest request body accepted (413 beyond)
   * @param maxAttempts attempts per request, first included; later attempts go to the next-ranked
   *     endpoint and happen only when an attempt failed before any response byte
   * @param offloadBodyBytes bodies at least this long are parsed and keyed on a worker thread
   *     instead of the event loop, so a long prompt does not delay the loop's other connections
   * @param retryBudget retries in flight may be at most this share of the requests in flight (or
   *     {@code minRetriesInFlight}, whichever is larger), so that a failing fleet is not hit by a
   *     retry storm (Envoy's retry budget)
   * @param minRetriesInFlight retries always allowed in flight, however few requests there are
   * @param retryBackoff the first retry waits this long, each later one twice the previous, each
   *     jittered to 0.5-1.5 times
   */
  public record Limits(
      long maxBodyBytes,
      int maxAttempts,
      long offloadBodyBytes,
      double retryBudget,
      int minRetriesInFlight,
      Duration retryBackoff,
      ParseLimits parse) {
    public static final long DEFAULT_OFFLOAD_BODY_BYTES = 64 * 1024;
    public static final double DEFAULT_RETRY_BUDGET = 0.2;
    public static final int DEFAULT_MIN_RETRIES_IN_FLIGHT = 3;
    public static final Duration DEFAULT_RETRY_BACKOFF = Duration.ofMillis(25);
    public static final Limits DEFAULT =
        new Limits(32L * 1024 * 1024, 3, DEFAULT_OFFLOAD_BODY_BYTES);

    public Limits {
      Objects.requireNonNull(parse);
    }

    public Limits(
        long maxBodyBytes,
        int maxAttempts,
        long offloadBodyBytes,
        double retryBudget,
        int minRetriesInFlight,
        Duration retryBackoff) {
      this(
          maxBodyBytes,
          maxAttempts,
          offloadBodyBytes,
          retryBudget,
          minRetriesInFlight,
          retryBackoff,
          ParseLimits.DEFAULT);
    }

    public Limits(long maxBodyBytes, int maxAttempts, long offloadBodyBytes) {
      this(
          maxBodyBytes,
          maxAttempts,
          offloadBodyBytes,
          DEFAULT_RETRY_BUDGET,
          DEFAULT_MIN_RETRIES_IN_FLIGHT,
          DEFAULT_RETRY_BACKOFF);
    }

    public Limits(long maxBodyBytes, int maxAttempts) {
      this(maxBodyBytes, maxAttempts, DEFAULT_OFFLOAD_BODY_BYTES);
    }

    public Limits withRetryBudget(double budget, int minInFlight, Duration backoff) {
      return new Limits(
          maxBodyBytes, maxAttempts, offloadBodyBytes, budget, minInFlight, backoff, parse);
    }

    public Limits withParse(ParseLimits p) {
      return new Limits(
          maxBodyBytes,
          maxAttempts,
          offloadBodyBytes,
          retryBudget,
          minRetriesInFlight,
          retryBackoff,
          p);
    }
  }

  /**
   * Bounds on the work and memory one request, and all requests together, may take to parse (keys
   * under {@code limits}).
   *
   * @param maxMessages chat messages, Responses input items and a batch's nested prompts in one
   *     request (400 {@code too_many_messages} beyond)
   * @param maxContentParts content parts across a request's messages (400 {@code
   *     too_many_content_parts})
   * @param maxPromptChars characters of prompt text in a request; a token id counts its digits and
   *     a separator (400 {@code prompt_too_long})
   * @param maxPromptValues strings and numbers in a request's prompt fields (400 {@code
   *     too_many_prompt_values})
   * @param parseBudgetBytes body bytes being parsed and keyed on worker threads at once, across the
   *     gateway; a body that does not fit waits its turn (a body larger than the budget waits for
   *     all of it)
   * @param parseQueueTimeout the longest a body waits for the budget before a 503 {@code
   *     server_busy}
   */
  public record ParseLimits(
      int maxMessages,
      int maxContentParts,
      long maxPromptChars,
      long maxPromptValues,
      long parseBudgetBytes,
      Duration parseQueueTimeout) {
    public static final ParseLimits DEFAULT =
        new ParseLimits(
            OpenAiRequestParser.Bounds.DEFAULT.maxMessages(),
            OpenAiRequestParser.Bounds.DEFAULT.maxContentParts(),
            OpenAiRequestParser.Bounds.DEFAULT.maxPromptChars(),
            OpenAiRequestParser.Bounds.DEFAULT.maxPromptValues(),
            64L << 20,
            Duration.ofSeconds(10));

    /** The per-request bounds, as the parser takes them. */
    public OpenAiRequestParser.Bounds bounds() {
      return new OpenAiRequestParser.Bounds(
          maxMessages, maxContentParts, maxPromptChars, maxPromptValues);
    }
  }

  /**
   * @param interval between active checks ({@code GET /health}) of each endpoint
   * @param timeout of one check
   * @param failureThreshold consecutive failures (checks or requests) that eject an endpoint
   * @param baseEjectionTime how long an endpoint ejected by request failures stays out before a
   *     passing check may re-admit it; doubled for each further such ejection (at most 10 times
   *     this), reset once the endpoint stayed in service this long. Re-admitted, it is on
   *     probation: its first failed request ejects it again
   * @param errorRate ejection by the share of failed requests over a sliding window, for engines
   *     whose failures are interleaved with successes
   */
  public record Health(
      Duration interval,
      Duration timeout,
      int failureThreshold,
      Duration baseEjectionTime,
      ErrorRate errorRate) {
    public static final Duration DEFAULT_BASE_EJECTION_TIME = Duration.ofSeconds(30);
    public static final Health DEFAULT =
        new Health(Duration.ofSeconds(5), Duration.ofSeconds(2), 3);

    public Health {
      Objects.requireNonNull(errorRate);
    }

    public Health(
        Duration interval, Duration timeout, int failureThreshold, Duration baseEjectionTime) {
      this(interval, timeout, failureThreshold, baseEjectionTime, ErrorRate.DEFAULT);
    }

    public Health(Duration interval, Duration timeout, int failureThreshold) {
      this(interval, timeout, failureThreshold, DEFAULT_BASE_EJECTION_TIME);
    }

    public Health withBaseEjectionTime(Duration d) {
      return new Health(interval, timeout, failureThreshold, d, errorRate);
    }

    public Health withErrorRate(ErrorRate r) {
      return new Health(interval, timeout, failureThreshold, baseEjectionTime, r);
    }
  }

  /**
   * Error-rate outlier ejection (Envoy's {@code failure_percentage}): an endpoint whose failed
   * requests (5xx from the engine, refused or reset connections, first-byte and idle timeouts; not
   * 4xx, not requests the client abandoned) exceed {@code threshold} of its requests over the last
   * {@code window}, with at least {@code minRequests} requests in it, is ejected like a
   * consecutive-failure ejection.
   *
   * @param threshold the failed share that ejects, in (0, 1]; 1 turns error-rate ejection off
   * @param minRequests requests the window must hold before its share counts
   * @param window the sliding window (ten buckets)
   * @param maxEjectionPercent error-rate ejection leaves at least one endpoint of a model in
   *     service and ejects one only while the model's ejected endpoints (for any reason) stay at
   *     most this percent of its endpoints, so that a fleet-wide failure pattern (a request that
   *     fails everywhere) cannot empty the fleet
   */
  public record ErrorRate(
      double threshold, int minRequests, Duration window, int maxEjectionPercent) {
    public static final ErrorRate DEFAULT = new ErrorRate(0.2, 20, Duration.ofSeconds(10), 50);

    public ErrorRate {
      if (!(threshold > 0 && threshold <= 1))
        throw new IllegalArgumentException("threshold must be in (0, 1] (got " + threshold + ")");
      if (minRequests < 1)
        throw new IllegalArgumentException(
            "minRequests must be at least 1 (got " + minRequests + ")");
      if (window.toMillis() < 10)
        throw new IllegalArgumentException("window must be at least 10ms (got " + window + ")");
      if (maxEjectionPercent < 0 || maxEjectionPercent > 100)
        throw new IllegalArgumentException(
            "maxEjectionPercent must be in [0, 100] (got " + maxEjectionPercent + ")");
    }

    /** Whether error-rate ejection is on (a share can never exceed 1). */
    public boolean enabled() {
      return threshold < 1;
    }
  }

  /**
   * The HTTP API kvgate serves.
   *
   * @param extraPaths POST paths forwarded to the endpoint of the model the body names, beyond the
   *     built-in inference paths ({@code io.kvgate.gateway.http.ApiPaths}); every other POST path
   *     is refused, so engine administration ({@code /reset_prefix_cache}, {@code /sleep}, {@code
   *     /v1/load_lora_adapter}, ...) is not reachable through the gateway
   */
  public record Api(List<String> extraPaths) {
    public static final Api DEFAULT = new Api(List.of());

    public Api {
      extraPaths = List.copyOf(extraPaths);
    }

    /**
     * Why {@code path} is not an origin-form, normalised path, or null if it is: it must start with
     * '/', and carry no '.' or '..' segment (raw or percent-encoded), no empty segment, no
     * backslash and no encoded slash.
     */
    public static String pathProblem(String path) {
      if (path == null || !path.startsWith("/")) return "must start with '/'";
      String lower = path.toLowerCase(Locale.ROOT);
      if (lower.contains("%2f") || lower.contains("%5c") || path.indexOf('\\') >= 0) {
        return "must not contain backslashes or encoded slashes";
      }
      String decodedDots = lower.replace("%2e", ".");
      String[] segments = decodedDots.substring(1).split("/", -1);
      for (int i = 0; i < segments.length; i++) {
        String s = segments[i];
        if (s.equals(".") || s.equals("..")) return "must not contain '.' or '..' segments";
        if (s.isEmpty() && i < segments.length - 1) return "must not contain empty segments ('//')";
      }
      return null;
    }
  }

  /**
   * Client API keys and rate limits.
   *
   * @param keys the configured keys (hashed); none = auth off, every client is {@link
   *     io.kvgate.gateway.auth.ApiKey#ANONYMOUS}
   * @param rateLimit the limits of every key that sets none of its own (with auth off: of all
   *     clients together)
   */
  public record Auth(
      List<io.kvgate.gateway.auth.ApiKey> keys, io.kvgate.gateway.auth.RateLimits rateLimit) {
    public static final Auth NONE = new Auth(List.of(), io.kvgate.gateway.auth.RateLimits.NONE);

    public Auth {
      keys = List.copyOf(keys);
      Objects.requireNonNull(rateLimit);
    }
  }

  /**
   * The admin listener: {@code /metrics}, {@code /health}, {@code /ready} and the {@code /admin/*}
   * operations, apart from the API (loopback by default). When client keys are configured and one
   * of them is an admin key, the admin listener asks for an admin key too.
   *
   * @param enabled whether it listens (without it, the API listener serves {@code /metrics} and
   *     {@code /admin/*} to admin keys only)
   * @param port 0 = ephemeral
   * @param tls PEM certificate and key to serve https with, or null for plain http
   */
  public record Admin(boolean enabled, String host, int port, ServerTls tls) {
    public static final Admin DEFAULT = new Admin(true, "127.0.0.1", 8081);
    public static final Admin OFF = new Admin(false, "127.0.0.1", 8081);

    /** Plain http. */
    public Admin(boolean enabled, String host, int port) {
      this(enabled, host, port, null);
    }
  }

  /**
   * The gRPC listener: engines' KV-event streams ({@code kvgate.v1.KvEventService}) and the admin
   * API ({@code kvgate.v1.AdminService}), on a port of its own. Off by default; loopback by default
   * when on. When one client key is an admin key, every call needs one ({@code authorization:
   * Bearer <key>} metadata).
   *
   * @param enabled whether it listens
   * @param port 0 = ephemeral
   * @param tls PEM certificate and key to serve TLS with, or null for plaintext
   */
  public record Grpc(boolean enabled, String host, int port, ServerTls tls) {
    public static final Grpc OFF = new Grpc(false, "127.0.0.1", 9090, null);

    public Grpc {
      Objects.requireNonNull(host, "host");
      if (port < 0 || port > 65535) throw new IllegalArgumentException("port must be 0..65535");
    }
  }

  /**
   * Cluster-wide routing state over an embedded Hazelcast member ({@code cluster:}; off by
   * default). Gateways with the same {@code name} that find each other share their prefix-index
   * writes, load, health verdicts, drains, rate-limit consumption and policy reloads; see
   * docs/CLUSTER.md.
   *
   * @param enabled whether this gateway joins a cluster
   * @param name the cluster name: only members with the same name join
   * @param host the interface the member binds and announces (an address other members reach)
   * @param port the member's port (TCP)
   * @param join how members find each other: {@code tcp-ip} (the {@code members} list), {@code
   *     multicast} or {@code kubernetes}
   * @param members {@code host:port} of members to contact (tcp-ip; may include this one)
   * @param multicastGroup the multicast group (multicast join)
   * @param multicastPort the multicast port (multicast join)
   * @param kubernetes Kubernetes discovery (kubernetes join)
   * @param gatewayId this gateway's id in the cluster, or null for a fresh one at each start (host
   *     name and a random suffix)
   * @param publishInterval how often this gateway ships its batched index writes and changed load
   * @param heartbeat how often it republishes its whole state (load, verdicts, drains, rate-limit
   *     use), so a newcomer or a healed partition converges without asking
   * @param memberTimeout how long a silent member stays in the cluster (Hazelcast's failure
   *     detector); its load contributions vanish when it leaves
   * @param catchUpTimeout how long a joining gateway waits for a peer's index snapshot before it
   *     reports ready anyway
   * @param mergeDelay how soon after a split the halves look for each other to merge
   */
  public record Cluster(
      boolean enabled,
      String name,
      String host,
      int port,
      String join,
      List<String> members,
      String multicastGroup,
      int multicastPort,
      Kubernetes kubernetes,
      String gatewayId,
      Duration publishInterval,
      Duration heartbeat,
      Duration memberTimeout,
      Duration catchUpTimeout,
      Duration mergeDelay) {

    public static final List<String> JOINS = List.of("tcp-ip", "multicast", "kubernetes");

    public static final Cluster OFF =
        new Cluster(
            false,
            "kvgate",
            "127.0.0.1",
            5701,
            "tcp-ip",
            List.of(),
            "224.2.2.3",
            54327,
            Kubernetes.NONE,
            null,
            Duration.ofMillis(10),
            Duration.ofSeconds(1),
            Duration.ofSeconds(10),
            Duration.ofSeconds(30),
            Duration.ofSeconds(10));

    public Cluster {
      Objects.requireNonNull(name, "name");
      Objects.requireNonNull(host, "host");
      Objects.requireNonNull(join, "join");
      members = List.copyOf(members);
      Objects.requireNonNull(kubernetes, "kubernetes");
      if (!JOINS.contains(join))
        throw new IllegalArgumentException("join must be one of " + JOINS + ", was " + join);
      if (port < 1 || port > 65535) throw new IllegalArgumentException("port must be 1..65535");
    }

    /** This configuration, on. */
    public Cluster on(String name, int port, List<String> members) {
      return new Cluster(
          true,
          name,
          host,
          port,
          join,
          members,
          multicastGroup,
          multicastPort,
          kubernetes,
          gatewayId,
          publishInterval,
          heartbeat,
          memberTimeout,
          catchUpTimeout,
          mergeDelay);
    }

    public Cluster withHost(String h) {
      return new Cluster(
          enabled,
          name,
          h,
          port,
          join,
          members,
          multicastGroup,
          multicastPort,
          kubernetes,
          gatewayId,
          publishInterval,
          heartbeat,
          memberTimeout,
          catchUpTimeout,
          mergeDelay);
    }

    public Cluster withGatewayId(String id) {
      return new Cluster(
          enabled,
          name,
          host,
          port,
          join,
          members,
          multicastGroup,
          multicastPort,
          kubernetes,
          id,
          publishInterval,
          heartbeat,
          memberTimeout,
          catchUpTimeout,
          mergeDelay);
    }

    public Cluster withTimings(
        Duration publishInterval,
        Duration heartbeat,
        Duration memberTimeout,
        Duration catchUpTimeout,
        Duration mergeDelay) {
      return new Cluster(
          enabled,
          name,
          host,
          port,
          join,
          members,
          multicastGroup,
          multicastPort,
          kubernetes,
          gatewayId,
          publishInterval,
          heartbeat,
          memberTimeout,
          catchUpTimeout,
          mergeDelay);
    }
  }

  /**
   * Kubernetes member discovery ({@code cluster.kubernetes}): through the API ({@code namespace},
   * {@code serviceName}; the pod's service account needs to list endpoints) or through a headless
   * service's DNS name ({@code serviceDns}).
   */
  /**
   * The batch lane: the OpenAI Files and Batches API, run on the capacity interactive traffic
   * leaves idle.
   *
   * @param enabled whether {@code /v1/files} and {@code /v1/batches} are served
   * @param dataDir where files and batch state are kept (SQLite database and files on disk)
   * @param maxFileBytes the largest file accepted by {@code POST /v1/files}
   * @param maxLinesPerFile the most requests one batch input file may hold
   * @param maxCompletionWindow the longest {@code completion_window} accepted
   * @param maxInFlight batch lines in flight at once from this gateway
   * @param preemption whether an interactive request routed to an endpoint cancels, and queues
   *     again, the batch lines there that have not produced a first token
   * @param watermark per-endpoint load below which batch lines may be sent to an endpoint
   */
  public record Batch(
      boolean enabled,
      java.nio.file.Path dataDir,
      long maxFileBytes,
      int maxLinesPerFile,
      Duration maxCompletionWindow,
      int maxInFlight,
      boolean preemption,
      Watermark watermark) {

    public Batch {
      Objects.requireNonNull(dataDir);
      Objects.requireNonNull(maxCompletionWindow);
      Objects.requireNonNull(watermark);
    }

    /** The defaults of a configuration file: on, under {@code ./kvgate-data}. */
    public static final Batch DEFAULT =
        new Batch(
            true,
            java.nio.file.Path.of("kvgate-data"),
            200L * 1024 * 1024,
            50_000,
            Duration.ofHours(24),
            64,
            true,
            Watermark.DEFAULT);

    /** Off: configurations built in code (tests, the trace replay) unless they turn it on. */
    public static final Batch OFF = DEFAULT.withEnabled(false);

    public Batch withEnabled(boolean e) {
      return new Batch(
          e,
          dataDir,
          maxFileBytes,
          maxLinesPerFile,
          maxCompletionWindow,
          maxInFlight,
          preemption,
          watermark);
    }

    /** On, keeping its state under {@code dir}. */
    public Batch on(java.nio.file.Path dir) {
      return new Batch(
          true,
          dir,
          maxFileBytes,
          maxLinesPerFile,
          maxCompletionWindow,
          maxInFlight,
          preemption,
          watermark);
    }

    public Batch withLimits(long fileBytes, int lines) {
      return new Batch(
          enabled,
          dataDir,
          fileBytes,
          lines,
          maxCompletionWindow,
          maxInFlight,
          preemption,
          watermark);
    }

    public Batch withAdmission(int inFlight, boolean preempt, Watermark w) {
      return new Batch(
          enabled,
          dataDir,
          maxFileBytes,
          maxLinesPerFile,
          maxCompletionWindow,
          inFlight,
          preempt,
          w);
    }
  }

  /**
   * The load under which an endpoint takes batch lines. Every bound counts all traffic to the
   * endpoint (in a cluster, every gateway's).
   *
   * @param maxInFlight a batch line is sent to an endpoint only while its requests in flight, the
   *     line included, stay below this: the last slot under the watermark is always left to
   *     interactive traffic
   * @param maxQueuedPrefillTokens prompt tokens sent to the endpoint and not yet prefilled
   * @param maxKvUtilization the engine's reported KV-cache usage (0..1), when it is scraped
   */
  public record Watermark(int maxInFlight, long maxQueuedPrefillTokens, double maxKvUtilization) {
    public static final Watermark DEFAULT = new Watermark(4, 4096, 0.9);
  }

  public record Kubernetes(String namespace, String serviceName, String serviceDns) {
    public static final Kubernetes NONE = new Kubernetes(null, null, null);
  }

  /**
   * Graceful shutdown (SIGTERM, or {@code POST /admin/drain}).
   *
   * @param grace how long {@code /ready} answers 503 while requests are still accepted, so load
   *     balancers stop sending before kvgate stops accepting
   * @param timeout how long requests in flight may then run; those still running are ended with an
   *     OpenAI-shaped error (an SSE error event for streams) and the process exits
   */
  public record Drain(Duration grace, Duration timeout) {
    public static final Drain DEFAULT = new Drain(Duration.ofSeconds(5), Duration.ofSeconds(20));
  }

  /**
   * How kvgate trusts an https endpoint (health checks, metrics scrapes, model discovery and
   * proxied requests all use the same settings).
   *
   * @param caFile a PEM file of the certificates to trust (e.g. a private CA or a self-signed
   *     engine certificate); null trusts the JVM's default trust store
   * @param trustAll accept any certificate, host name included (testing only: no protection against
   *     a man in the middle)
   * @param verifyHostname check that the certificate names the endpoint's host
   */
  public record UpstreamTls(String caFile, boolean trustAll, boolean verifyHostname) {
    public static final UpstreamTls DEFAULT = new UpstreamTls(null, false, true);
  }

  /**
   * @param maxConnectionsPerEndpoint keep-alive HTTP/1.1 connections per endpoint
   */
  public record Pool(int maxConnectionsPerEndpoint) {
    public static final Pool DEFAULT = new Pool(512);
  }

  /**
   * The metric tag an endpoint label publishes as ({@code kvgate_endpoint_labels}): {@code label_}
   * and the key with every character outside [a-zA-Z0-9_] replaced by '_'.
   */
  public static String labelTag(String key) {
    return "label_" + key.replaceAll("[^a-zA-Z0-9_]", "_");
  }

  /** All endpoints' roles are known values; used by {@code check-config}'s summary. */
  public Map<String, Long> endpointsByRole() {
    return models.stream()
        .flatMap(m -> m.endpoints().stream())
        .collect(
            java.util.stream.Collectors.groupingBy(
                e -> e.role().wireName(),
                java.util.TreeMap::new,
                java.util.stream.Collectors.counting()));
  }
}
