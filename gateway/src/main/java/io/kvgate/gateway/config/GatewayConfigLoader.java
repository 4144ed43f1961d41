package io.kvgate.gateway.config;

import io.kvgate.gateway.auth.ApiKey;
import io.kvgate.gateway.auth.KeyHash;
import io.kvgate.gateway.auth.RateLimits;
import io.kvgate.routing.Endpoint;
import io.kvgate.routing.Role;
import io.kvgate.routing.config.ConfigException;
import io.kvgate.routing.config.ConfigNode;
import io.kvgate.routing.config.ConfigProblem;
import java.io.IOException;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Reads {@code gateway.yaml} into a {@link GatewayConfig}, reporting every problem with its YAML
 * path (unknown keys included) in one {@link ConfigException}. Runs at start-up and in {@code
 * check-config}, never on the request path.
 */
public final class GatewayConfigLoader {

  private GatewayConfigLoader() {}

  public static GatewayConfig load(Path file) throws ConfigException, IOException {
    return parse(Files.readString(file), file.toString());
  }

  public static GatewayConfig parse(String yaml, String source) throws ConfigException {
    List<ConfigProblem> problems = new ArrayList<>();
    ConfigNode r = ConfigNode.root(yaml, source, "at least 'models'", problems);
    r.allowOnly(
        "listener",
        "models",
        "routing",
        "timeouts",
        "limits",
        "health",
        "pool",
        "upstreamTls",
        "api",
        "logging",
        "accessLog",
        "auth",
        "admin",
        "grpc",
        "cluster",
        "batch",
        "drain");

    ConfigNode l = r.object("listener");
    l.allowOnly(
        "host",
        "port",
        "eventLoops",
        "maxConnections",
        "headerTimeout",
        "bodyTimeout",
        "idleTimeout",
        "maxHeaderBytes",
        "maxUriBytes",
        "maxConnectionsPerClient",
        "tls");
    GatewayConfig.ClientConnections cd = GatewayConfig.ClientConnections.DEFAULT;
    GatewayConfig.ClientConnections connections =
        new GatewayConfig.ClientConnections(
            l.duration("headerTimeout", cd.headerTimeout()),
            l.duration("bodyTimeout", cd.bodyTimeout()),
            l.duration("idleTimeout", cd.idleTimeout()),
            (int) l.integer("maxHeaderBytes", cd.maxHeaderBytes(), 1024, 1 << 20),
            (int) l.integer("maxUriBytes", cd.maxUriBytes(), 256, 1 << 20),
            (int)
                l.integer(
                    "maxConnectionsPerClient", cd.maxConnectionsPerClient(), 0, Integer.MAX_VALUE));
    GatewayConfig.ServerTls listenerTls =
        l.has("tls") ? ServerTlsFiles.read(l.object("tls")) : null;
    GatewayConfig.Listener listener =
        new GatewayConfig.Listener(
            l.string("host", GatewayConfig.Listener.DEFAULT.host(), false),
            (int) l.integer("port", GatewayConfig.Listener.DEFAULT.port(), 0, 65535),
            (int) l.integer("eventLoops", GatewayConfig.Listener.defaultEventLoops(), 1, 1024),
            (int)
                l.integer(
                    "maxConnections",
                    GatewayConfig.Listener.DEFAULT_MAX_CONNECTIONS,
                    1,
                    Integer.MAX_VALUE),
            connections,
            listenerTls);

    ConfigNode ro = r.object("routing");
    ro.allowOnly(
        "blockSizeTokens",
        "charsPerToken",
        "capacityBlocks",
        "indexTtl",
        "signalsInterval",
        "segmentCacheBytes");
    GatewayConfig.Routing d = GatewayConfig.Routing.DEFAULT;
    GatewayConfig.Routing routing =
        new GatewayConfig.Routing(
            (int) ro.integer("blockSizeTokens", d.blockSizeTokens(), 1, 1 << 16),
            (int) ro.integer("charsPerToken", d.charsPerToken(), 1, 64),
            ro.integer("capacityBlocks", d.capacityBlocks(), 1, Long.MAX_VALUE),
            ro.duration("indexTtl", d.indexTtl()),
            ro.duration("signalsInterval", d.signalsInterval()),
            ro.integer("segmentCacheBytes", d.segmentCacheBytes(), 1, Long.MAX_VALUE));

    ConfigNode t = r.object("timeouts");
    t.allowOnly("connect", "firstByte", "idle", "total");
    GatewayConfig.Timeouts td = GatewayConfig.Timeouts.DEFAULT;
    GatewayConfig.Timeouts timeouts =
        new GatewayConfig.Timeouts(
            t.duration("connect", td.connect()),
            t.duration("firstByte", td.firstByte()),
            t.duration("idle", td.idle()),
            t.duration("total", td.total()));

    ConfigNode li = r.object("limits");
    li.allowOnly(
        "maxBodyBytes",
        "maxAttempts",
        "offloadBodyBytes",
        "retryBudget",
        "minRetriesInFlight",
        "retryBackoff",
        "maxMessages",
        "maxContentParts",
        "maxPromptChars",
        "maxPromptValues",
        "parseBudgetBytes",
        "parseQueueTimeout");
    GatewayConfig.Limits ld = GatewayConfig.Limits.DEFAULT;
    GatewayConfig.Limits limits =
        new GatewayConfig.Limits(
            li.integer("maxBodyBytes", ld.maxBodyBytes(), 1024, 1L << 31),
            (int) li.integer("maxAttempts", ld.maxAttempts(), 1, 10),
            li.integer("offloadBodyBytes", ld.offloadBodyBytes(), 0, Long.MAX_VALUE),
            li.number("retryBudget", ld.retryBudget(), 0, 1),
            (int) li.integer("minRetriesInFlight", ld.minRetriesInFlight(), 0, 1_000_000),
            li.duration("retryBackoff", ld.retryBackoff()),
            parseLimits(li));

    ConfigNode h = r.object("health");
    h.allowOnly(
        "interval",
        "timeout",
        "failureThreshold",
        "baseEjectionTime",
        "errorRateThreshold",
        "errorRateMinRequests",
        "errorRateWindow",
        "maxEjectionPercent");
    GatewayConfig.Health hd = GatewayConfig.Health.DEFAULT;
    GatewayConfig.Health health =
        new GatewayConfig.Health(
            h.duration("interval", hd.interval()),
            h.duration("timeout", hd.timeout()),
            (int) h.integer("failureThreshold", hd.failureThreshold(), 1, 1000),
            h.duration("baseEjectionTime", hd.baseEjectionTime()),
            errorRate(h, hd.errorRate()));

    ConfigNode p = r.object("pool");
    p.allowOnly("maxConnectionsPerEndpoint");
    GatewayConfig.Pool pool =
        new GatewayConfig.Pool(
            (int)
                p.integer(
                    "maxConnectionsPerEndpoint",
                    GatewayConfig.Pool.DEFAULT.maxConnectionsPerEndpoint(),
                    1,
                    100_000));

    ConfigNode a = r.object("api");
    a.allowOnly("extraPaths");
    List<String> extraPaths = new ArrayList<>();
    for (ConfigNode n : a.list("extraPaths", false)) {
      String path = n.text();
      String problem = path == null ? "must be a string" : GatewayConfig.Api.pathProblem(path);
      if (problem == null && path.contains("?")) problem = "must not carry a query";
      if (problem != null) n.problem(problem);
      else extraPaths.add(path);
    }
    GatewayConfig.Api api = new GatewayConfig.Api(extraPaths);

    GatewayConfig.Logging logging = logging(r);

    ConfigNode globalTlsNode = r.object("upstreamTls");
    GatewayConfig.UpstreamTls globalTls = tls(globalTlsNode, GatewayConfig.UpstreamTls.DEFAULT);
    boolean anyHttps = false;
    Map<String, GatewayConfig.UpstreamTls> tlsByAuthority = new java.util.HashMap<>();

    List<GatewayConfig.Model> models = new ArrayList<>();
    Set<String> modelNames = new HashSet<>();
    Set<String> endpointIds = new HashSet<>();
    List<ConfigNode> modelNodes = r.list("models", true);
    if (modelNodes.isEmpty() && r.has("models"))
      r.problem("models", "must list at least one model");
    for (ConfigNode m : modelNodes) {
      m.allowOnly("name", "policy", "adapters", "endpoints", "pd");
      String name = m.string("name", "", true);
      if (!name.isEmpty() && !modelNames.add(name))
        m.problem("name", "duplicate model '" + name + "'");
      String policy = m.string("policy", "cache-aware", false);
      Set<String> adapters = new LinkedHashSet<>(m.strings("adapters", false));
      List<Endpoint> endpoints = new ArrayList<>();
      Map<String, Long> capacities = new java.util.LinkedHashMap<>();
      Map<String, GatewayConfig.UpstreamTls> tlsById = new java.util.LinkedHashMap<>();
      Map<String, String> apiKeys = new java.util.LinkedHashMap<>();
      Map<String, Integer> bootstrapPorts = new java.util.LinkedHashMap<>();
      GatewayConfig.Pd pd = pd(m);
      List<ConfigNode> endpointNodes = m.list("endpoints", true);
      if (endpointNodes.isEmpty()) m.problem("endpoints", "must list at least one endpoint");
      for (ConfigNode e : endpointNodes) {
        e.allowOnly(
            "url",
            "id",
            "role",
            "labels",
            "weight",
            "adapters",
            "capacityBlocks",
            "tls",
            "apiKey",
            "bootstrapPort");
        String url = e.string("url", null, true);
        URI uri = null;
        if (url != null) {
          try {
            uri = new URI(url);
            if (!"http".equals(uri.getScheme()) && !"https".equals(uri.getScheme())
                || uri.getHost() == null) {
              e.problem("url", "must be an absolute http:// or https:// URL (got '" + url + "')");
              uri = null;
            } else if (uri.getRawQuery() != null
                || uri.getRawFragment() != null
                || uri.getRawUserInfo() != null) {
              e.problem(
                  "url",
                  "must be scheme://host[:port][/base-path] without user info, query or fragment"
                      + " (got '"
                      + url
                      + "')");
              uri = null;
            }
          } catch (URISyntaxException ex) {
            e.problem("url", "is not a URL: " + ex.getMessage());
          }
        }
        Role role = e.parse("role", "both", Role::parse);
        if (role != Role.BOTH && !pd.enabled()) {
          e.problem(
              "role",
              "'"
                  + role.wireName()
                  + "' needs disaggregated serving: set the model's pd.protocol (vllm or sglang)");
        }
        Integer bootstrapPort = null;
        if (e.has("bootstrapPort")) {
          if (pd.protocol() != GatewayConfig.PdProtocol.SGLANG || role != Role.PREFILL) {
            e.problem(
                "bootstrapPort",
                "applies to role: prefill endpoints of a model with pd.protocol: sglang");
          }
          bootstrapPort = (int) e.integer("bootstrapPort", 8998, 1, 65535);
        }
        Map<String, String> labels = e.stringMap("labels");
        Map<String, String> labelTags = new java.util.HashMap<>();
        for (String key : labels.keySet()) {
          String other = labelTags.put(GatewayConfig.labelTag(key), key);
          if (other != null) {
            e.problem(
                "labels." + key,
                "publishes as the same metric tag as '"
                    + other
                    + "' ("
                    + GatewayConfig.labelTag(key)
                    + "): rename one");
          }
        }
        double weight = e.positive("weight", 1.0);
        Set<String> epAdapters = new LinkedHashSet<>(e.strings("adapters", false));
        boolean https = uri != null && "https".equals(uri.getScheme());
        anyHttps |= https;
        GatewayConfig.UpstreamTls epTls = globalTls;
        if (e.has("tls")) {
          if (uri != null && !https) {
            e.problem("tls", "applies to https:// endpoints only (this one is " + url + ")");
          }
          epTls = tls(e.object("tls"), globalTls);
        }
        if (uri != null) {
          String id = e.string("id", Endpoint.defaultId(uri), false);
          if (!endpointIds.add(name + "/" + id))
            e.problem("id", "duplicate endpoint '" + id + "' in model '" + name + "'");
          endpoints.add(new Endpoint(id, uri, name, role, labels, weight, epAdapters));
          if (bootstrapPort != null) bootstrapPorts.put(id, bootstrapPort);
          long capacity = e.integer("capacityBlocks", 0, 0, Long.MAX_VALUE);
          if (capacity > 0) capacities.put(id, capacity);
          String apiKey = e.string("apiKey", null, false);
          if (apiKey != null) {
            if (apiKey.isBlank() || apiKey.chars().anyMatch(ch -> ch < 0x21 || ch > 0x7e)) {
              e.problem(
                  "apiKey", "must be printable ASCII without spaces (the value is not shown)");
            } else {
              apiKeys.put(id, apiKey);
            }
          }
          if (https && !epTls.equals(GatewayConfig.UpstreamTls.DEFAULT)) tlsById.put(id, epTls);
          if (https) {
            // Vert.x pools connections by host, port and trust store, not by trustAll or host-name
            // checking: one authority must be trusted one way.
            String authority = Endpoint.defaultId(uri);
            GatewayConfig.UpstreamTls before = tlsByAuthority.putIfAbsent(authority, epTls);
            if (before != null && !before.equals(epTls)) {
              e.problem(
                  "tls", "differs from another endpoint's at " + authority + ": trust it one way");
            }
          }
        }
      }
      if (pd.enabled() && !endpointNodes.isEmpty()) {
        long prefill = endpoints.stream().filter(x -> x.role() == Role.PREFILL).count();
        long decode = endpoints.stream().filter(x -> x.role() == Role.DECODE).count();
        if (decode == 0) {
          m.problem(
              "pd",
              "a disaggregated model needs a decode pool: at least one endpoint with role: decode");
        }
        if (prefill == 0) {
          m.problem(
              "pd",
              "a disaggregated model needs a prefill pool: at least one endpoint with role: prefill");
        }
      }
      models.add(
          new GatewayConfig.Model(
              name, policy, adapters, endpoints, capacities, tlsById, apiKeys, pd, bootstrapPorts));
    }
    if (r.has("upstreamTls") && !anyHttps && !modelNodes.isEmpty()) {
      r.problem("upstreamTls", "applies to https:// endpoints and no endpoint uses https");
    }
    GatewayConfig.Auth auth = auth(r.object("auth"), models);

    ConfigNode ad = r.object("admin");
    ad.allowOnly("enabled", "host", "port", "tls");
    GatewayConfig.Admin admin =
        new GatewayConfig.Admin(
            ad.bool("enabled", GatewayConfig.Admin.DEFAULT.enabled()),
            ad.string("host", GatewayConfig.Admin.DEFAULT.host(), false),
            (int) ad.integer("port", GatewayConfig.Admin.DEFAULT.port(), 0, 65535),
            ad.has("tls") ? ServerTlsFiles.read(ad.object("tls")) : null);
    if (admin.enabled()
        && admin.port() != 0
        && admin.port() == listener.port()
        && listener.port() != 0) {
      ad.problem("port", "is the API listener's port (listener.port): pick another");
    }

    ConfigNode gr = r.object("grpc");
    gr.allowOnly("enabled", "host", "port", "tls");
    GatewayConfig.Grpc grpc =
        new GatewayConfig.Grpc(
            gr.bool("enabled", r.has("grpc")),
            gr.string("host", GatewayConfig.Grpc.OFF.host(), false),
            (int) gr.integer("port", GatewayConfig.Grpc.OFF.port(), 0, 65535),
            gr.has("tls") ? ServerTlsFiles.read(gr.object("tls")) : null);
    if (grpc.enabled() && grpc.port() != 0) {
      if (grpc.port() == listener.port()) {
        gr.problem("port", "is the API listener's port (listener.port): pick another");
      } else if (admin.enabled() && grpc.port() == admin.port()) {
        gr.problem("port", "is the admin listener's port (admin.port): pick another");
      }
    }

    ConfigNode dr = r.object("drain");
    dr.allowOnly("grace", "timeout");
    GatewayConfig.Drain drain =
        new GatewayConfig.Drain(
            dr.duration("grace", GatewayConfig.Drain.DEFAULT.grace()),
            dr.duration("timeout", GatewayConfig.Drain.DEFAULT.timeout()));

    GatewayConfig.Cluster cluster = cluster(r, listener, admin, grpc);
    GatewayConfig.Batch batch = batch(r, connections.maxConnectionsPerClient());

    if (!problems.isEmpty()) throw new ConfigException(source, problems);
    return new GatewayConfig(
        listener, models, routing, timeouts, limits, health, pool, api, auth, admin, drain, logging,
        grpc, cluster, batch);
  }

  /** The {@code batch} section: the batch lane, on by default under {@code ./kvgate-data}. */
  private static GatewayConfig.Batch batch(ConfigNode r, int maxConnectionsPerClient) {
    GatewayConfig.Batch d = GatewayConfig.Batch.DEFAULT;
    ConfigNode b = r.object("batch");
    b.allowOnly(
        "enabled",
        "dataDir",
        "maxFileBytes",
        "maxLinesPerFile",
        "maxCompletionWindow",
        "maxInFlight",
        "preemption",
        "watermark");
    String dir = b.string("dataDir", d.dataDir().toString(), false);
    if (dir.isBlank()) {
      b.problem("dataDir", "must not be empty");
      dir = d.dataDir().toString();
    }
    Duration window = b.duration("maxCompletionWindow", d.maxCompletionWindow());
    if (window.compareTo(Duration.ofSeconds(1)) < 0) {
      b.problem("maxCompletionWindow", "must be at least 1s");
      window = d.maxCompletionWindow();
    }
    ConfigNode w = b.object("watermark");
    w.allowOnly("maxInFlight", "maxQueuedPrefillTokens", "maxKvUtilization");
    GatewayConfig.Watermark dw = GatewayConfig.Watermark.DEFAULT;
    GatewayConfig.Watermark watermark =
        new GatewayConfig.Watermark(
            (int) w.integer("maxInFlight", dw.maxInFlight(), 2, 1_000_000),
            w.integer("maxQueuedPrefillTokens", dw.maxQueuedPrefillTokens(), 1, Long.MAX_VALUE),
            w.number("maxKvUtilization", dw.maxKvUtilization(), 0.01, 1.0));
    boolean enabled = b.bool("enabled", d.enabled());
    // The lane's lines reach the listener over loopback connections, one per line in flight, and
    // count against the per-client cap: by default the lane takes at most half of it.
    int defaultInFlight =
        maxConnectionsPerClient > 0
            ? Math.max(1, Math.min(d.maxInFlight(), maxConnectionsPerClient / 2))
            : d.maxInFlight();
    int maxInFlight = (int) b.integer("maxInFlight", defaultInFlight, 1, 1_000_000);
    if (enabled && maxConnectionsPerClient > 0 && maxInFlight >= maxConnectionsPerClient) {
      b.problem(
          "maxInFlight",
          "is "
              + maxInFlight
              + ", but the lane's lines reach the listener over that many loopback connections"
              + " and listener.maxConnectionsPerClient is "
              + maxConnectionsPerClient
              + ": lower batch.maxInFlight below it, raise the cap or turn the lane off");
    }
    return new GatewayConfig.Batch(
        enabled,
        java.nio.file.Path.of(dir),
        b.integer("maxFileBytes", d.maxFileBytes(), 1, Long.MAX_VALUE),
        (int) b.integer("maxLinesPerFile", d.maxLinesPerFile(), 1, 10_000_000),
        window,
        maxInFlight,
        b.bool("preemption", d.preemption()),
        watermark);
  }

  /**
   * The {@code cluster} section: a present section turns clustering on unless it says {@code
   * enabled: false}. Its keys are checked either way; the Kubernetes discovery mode and port
   * conflicts only when it is on.
   */
  private static GatewayConfig.Cluster cluster(
      ConfigNode r,
      GatewayConfig.Listener listener,
      GatewayConfig.Admin admin,
      GatewayConfig.Grpc grpc) {
    GatewayConfig.Cluster d = GatewayConfig.Cluster.OFF;
    ConfigNode c = r.object("cluster");
    c.allowOnly(
        "enabled",
        "name",
        "host",
        "port",
        "join",
        "members",
        "multicast",
        "kubernetes",
        "gatewayId",
        "publishInterval",
        "heartbeat",
        "memberTimeout",
        "catchUpTimeout",
        "mergeDelay");
    boolean enabled = c.bool("enabled", r.has("cluster"));
    String join = c.string("join", d.join(), false);
    if (!GatewayConfig.Cluster.JOINS.contains(join)) {
      c.problem("join", "must be one of " + GatewayConfig.Cluster.JOINS + ", was '" + join + "'");
      join = d.join();
    }
    List<String> members = new ArrayList<>();
    List<ConfigNode> memberNodes = c.list("members", false);
    for (ConfigNode n : memberNodes) {
      String m = n.text();
      String problem = m == null ? "must be a string (host:port)" : clusterMemberProblem(m);
      if (problem != null) n.problem(problem);
      else members.add(m);
    }
    if (!memberNodes.isEmpty() && !join.equals("tcp-ip")) {
      c.problem("members", "lists tcp-ip members, and join is '" + join + "'");
    }
    ConfigNode mc = c.object("multicast");
    mc.allowOnly("group", "port");
    String group = mc.string("group", d.multicastGroup(), false);
    int mport = (int) mc.integer("port", d.multicastPort(), 1, 65535);
    if (c.has("multicast") && !join.equals("multicast")) {
      c.problem("multicast", "configures multicast discovery, and join is '" + join + "'");
    }
    ConfigNode k = c.object("kubernetes");
    k.allowOnly("namespace", "serviceName", "serviceDns");
    GatewayConfig.Kubernetes kube =
        new GatewayConfig.Kubernetes(
            k.string("namespace", null, false),
            k.string("serviceName", null, false),
            k.string("serviceDns", null, false));
    if (c.has("kubernetes") && !join.equals("kubernetes")) {
      c.problem("kubernetes", "configures Kubernetes discovery, and join is '" + join + "'");
    }
    if (join.equals("kubernetes") && enabled) {
      if (kube.serviceDns() != null && kube.serviceName() != null) {
        k.problem("serviceDns", "and serviceName are two discovery modes: give one");
      } else if (kube.serviceDns() == null && kube.serviceName() == null) {
        c.problem(
            "kubernetes",
            "needs serviceName (API discovery, with namespace) or serviceDns (a headless"
                + " service)");
      }
    }
    String name = c.string("name", d.name(), false);
    if (name.isBlank()) {
      c.problem("name", "must not be empty");
      name = d.name();
    }
    String host = c.string("host", d.host(), false);
    String hostProblem = clusterHostProblem(host);
    if (hostProblem != null) {
      c.problem("host", hostProblem);
      host = d.host();
    }
    String gatewayId = c.string("gatewayId", null, false);
    if (gatewayId != null && gatewayId.isBlank()) {
      c.problem("gatewayId", "must not be empty (leave it out for a fresh id at each start)");
      gatewayId = null;
    }
    int port = (int) c.integer("port", d.port(), 1, 65535);
    if (enabled
        && (port == listener.port()
            || admin.enabled() && port == admin.port()
            || grpc.enabled() && port == grpc.port())) {
      c.problem("port", "is taken by the API, admin or gRPC listener: pick another");
    }
    GatewayConfig.Cluster out =
        new GatewayConfig.Cluster(
            enabled,
            name,
            host,
            port,
            join,
            members,
            group,
            mport,
            kube,
            gatewayId,
            c.duration("publishInterval", d.publishInterval()),
            c.duration("heartbeat", d.heartbeat()),
            c.duration("memberTimeout", d.memberTimeout()),
            c.duration("catchUpTimeout", d.catchUpTimeout()),
            c.duration("mergeDelay", d.mergeDelay()));
    if (out.publishInterval().compareTo(Duration.ofMillis(1)) < 0
        || out.publishInterval().compareTo(Duration.ofSeconds(1)) > 0)
      c.problem("publishInterval", "must be between 1ms and 1s");
    if (out.heartbeat().compareTo(out.publishInterval()) < 0)
      c.problem("heartbeat", "must be at least publishInterval");
    if (out.memberTimeout().compareTo(Duration.ofSeconds(2)) < 0)
      c.problem("memberTimeout", "must be at least 2s (members send heartbeats every second)");
    if (out.mergeDelay().compareTo(Duration.ofSeconds(1)) < 0)
      c.problem("mergeDelay", "must be at least 1s");
    return out;
  }

  /** Why {@code member} is not a {@code cluster.members} entry ({@code host:port}), or null. */
  public static String clusterMemberProblem(String member) {
    int colon = member.lastIndexOf(':');
    boolean ok = colon > 0;
    if (ok) {
      try {
        int p = Integer.parseInt(member.substring(colon + 1));
        ok = p >= 1 && p <= 65535;
      } catch (NumberFormatException e) {
        ok = false;
      }
    }
    return ok ? null : "must be host:port with a port of 1..65535, was '" + member + "'";
  }

  /**
   * Why {@code host} cannot be {@code cluster.host}, or null. Hazelcast binds the member by
   * matching the machine's interfaces against it, which takes an IPv4 address: a host name or an
   * IPv6 address finds no interface and the member fails to start.
   */
  public static String clusterHostProblem(String host) {
    String[] octets = host.split("\\.", -1);
    boolean ok = octets.length == 4;
    for (int i = 0; ok && i < 4; i++) {
      ok = octets[i].matches("[0-9]{1,3}") && Integer.parseInt(octets[i]) <= 255;
    }
    return ok
        ? null
        : "must be an IPv4 address of this machine that other members reach (0.0.0.0 for every"
            + " interface), was '"
            + host
            + "'";
  }

  /** The {@code logging} and {@code accessLog} sections. */
  private static GatewayConfig.Logging logging(ConfigNode r) {
    GatewayConfig.Logging d = GatewayConfig.Logging.DEFAULT;
    ConfigNode lg = r.object("logging");
    lg.allowOnly("maxLinesPerInterval", "interval");
    ConfigNode al = r.object("accessLog");
    al.allowOnly("sampleRate", "errorsAlways");
    return new GatewayConfig.Logging(
        (int) lg.integer("maxLinesPerInterval", d.maxLinesPerInterval(), 0, 1_000_000),
        lg.duration("interval", d.interval()),
        new GatewayConfig.AccessLog(
            al.number("sampleRate", d.accessLog().sampleRate(), 0, 1),
            al.bool("errorsAlways", d.accessLog().errorsAlways())));
  }

  /** The {@code health.errorRate*} and {@code health.maxEjectionPercent} keys. */
  private static GatewayConfig.ErrorRate errorRate(ConfigNode h, GatewayConfig.ErrorRate d) {
    double threshold = h.number("errorRateThreshold", d.threshold(), 0, 1);
    if (!(threshold > 0)) {
      h.problem("errorRateThreshold", "must be above 0 (1 turns error-rate ejection off)");
      threshold = d.threshold();
    }
    java.time.Duration window = h.duration("errorRateWindow", d.window());
    if (window.toMillis() < 10) {
      h.problem("errorRateWindow", "must be at least 10ms");
      window = d.window();
    }
    return new GatewayConfig.ErrorRate(
        threshold,
        (int) h.integer("errorRateMinRequests", d.minRequests(), 1, 1_000_000),
        window,
        (int) h.integer("maxEjectionPercent", d.maxEjectionPercent(), 0, 100));
  }

  /** The {@code auth} section: keys (hashed, or plaintext in {@code keysFile}) and rate limits. */
  /** {@code models[i].pd}: disaggregated serving, off when absent. */
  private static GatewayConfig.Pd pd(ConfigNode m) {
    if (!m.has("pd")) return GatewayConfig.Pd.OFF;
    ConfigNode p = m.object("pd");
    p.allowOnly(
        "protocol",
        "minUncachedTokens",
        "fallback",
        "maxPrefillAttempts",
        "prefillTimeout",
        "maxPrefillResponseBytes");
    GatewayConfig.Pd d = GatewayConfig.Pd.OFF;
    GatewayConfig.PdProtocol protocol = null;
    String wire = p.string("protocol", null, false);
    if (wire == null) p.problem("protocol", "is required (vllm or sglang)");
    else {
      try {
        protocol = GatewayConfig.PdProtocol.parse(wire);
      } catch (IllegalArgumentException e) {
        p.problem("protocol", e.getMessage());
      }
    }
    String fallback = p.string("fallback", "aggregate", false);
    if (!"aggregate".equals(fallback) && !"fail".equals(fallback)) {
      p.problem("fallback", "must be aggregate or fail (got '" + fallback + "')");
    }
    return new GatewayConfig.Pd(
        protocol,
        p.integer("minUncachedTokens", d.minUncachedTokens(), 0, 10_000_000),
        !"fail".equals(fallback),
        (int) p.integer("maxPrefillAttempts", d.maxPrefillAttempts(), 1, 16),
        p.duration("prefillTimeout", d.prefillTimeout()),
        p.integer("maxPrefillResponseBytes", d.maxPrefillResponseBytes(), 1024, 64L << 20));
  }

  private static GatewayConfig.Auth auth(ConfigNode a, List<GatewayConfig.Model> models) {
    a.allowOnly("keys", "keysFile", "rateLimit");
    RateLimits defaults = rateLimits(a.object("rateLimit"), RateLimits.NONE);
    Set<String> served = new HashSet<>();
    for (GatewayConfig.Model m : models) {
      served.add(m.name());
      served.addAll(m.adapters());
      for (Endpoint e : m.endpoints()) served.addAll(e.adapters());
    }
    List<ApiKey> keys = new ArrayList<>();
    Set<String> names = new HashSet<>();
    for (ConfigNode k : a.list("keys", false)) {
      k.allowOnly("name", "tenant", "hash", "models", "rateLimit", "priority", "admin", "kvEvents");
      String name = k.string("name", null, true);
      if (name != null && !names.add(name)) k.problem("name", "duplicate key name '" + name + "'");
      String tenant = k.string("tenant", "default", false);
      KeyHash hash = null;
      String text = k.string("hash", null, true);
      if (text != null) {
        try {
          hash = KeyHash.parse(text);
        } catch (IllegalArgumentException e) {
          k.problem("hash", e.getMessage());
        }
      }
      Set<String> allowed = new LinkedHashSet<>(k.strings("models", false));
      for (String m : allowed) {
        if (!served.contains(m)) {
          k.problem("models", "'" + m + "' is not a model or adapter configured under models");
        }
      }
      RateLimits limits =
          k.has("rateLimit") ? rateLimits(k.object("rateLimit"), defaults) : RateLimits.INHERIT;
      boolean priority = k.bool("priority", false);
      boolean admin = k.bool("admin", false);
      boolean kvEvents = k.bool("kvEvents", false);
      if (name != null && hash != null) {
        keys.add(new ApiKey(name, tenant, hash, allowed, limits, priority, admin, kvEvents));
      }
    }
    String file = a.string("keysFile", null, false);
    if (file != null) {
      try {
        keys.addAll(keysFile(Path.of(file), names));
      } catch (IOException e) {
        a.problem("keysFile", "cannot read '" + file + "': " + e.getMessage());
      } catch (IllegalArgumentException e) {
        a.problem("keysFile", e.getMessage());
      }
    }
    return new GatewayConfig.Auth(keys, defaults);
  }

  /**
   * The keys of an {@code --api-keys-file}: one key per line, blank lines and {@code #} comments
   * ignored; each is hashed at once (the plaintext is not kept) and named {@code keys-file:<line>},
   * tenant {@code default}, every model, the default limits.
   *
   * @throws IllegalArgumentException naming the line of a key that is not one (never its text)
   */
  public static List<ApiKey> keysFile(Path file, Set<String> takenNames) throws IOException {
    List<ApiKey> keys = new ArrayList<>();
    List<String> lines = Files.readAllLines(file);
    for (int i = 0; i < lines.size(); i++) {
      String key = lines.get(i).strip();
      if (key.isEmpty() || key.startsWith("#")) continue;
      if (key.length() < 8 || key.chars().anyMatch(ch -> ch < 0x21 || ch > 0x7e)) {
        throw new IllegalArgumentException(
            "line "
                + (i + 1)
                + " is not a key: keys are at least 8 printable ASCII characters without spaces");
      }
      String name = "keys-file:" + (i + 1);
      if (!takenNames.add(name)) throw new IllegalArgumentException("duplicate key name " + name);
      keys.add(
          new ApiKey(name, "default", KeyHash.of(key), Set.of(), RateLimits.INHERIT, false, false));
    }
    if (keys.isEmpty()) throw new IllegalArgumentException(file + " holds no key");
    return keys;
  }

  private static RateLimits rateLimits(ConfigNode n, RateLimits base) {
    n.allowOnly("rps", "tpm");
    return new RateLimits(
        n.number("rps", Math.max(0, base.rps()), 0, 1e9),
        n.integer("tpm", Math.max(0, base.tpm()), 0, Long.MAX_VALUE));
  }

  /** The parse limits, which live under {@code limits} next to the body limit. */
  private static GatewayConfig.ParseLimits parseLimits(ConfigNode li) {
    GatewayConfig.ParseLimits d = GatewayConfig.ParseLimits.DEFAULT;
    return new GatewayConfig.ParseLimits(
        (int) li.integer("maxMessages", d.maxMessages(), 1, Integer.MAX_VALUE),
        (int) li.integer("maxContentParts", d.maxContentParts(), 1, Integer.MAX_VALUE),
        li.integer("maxPromptChars", d.maxPromptChars(), 1, Long.MAX_VALUE),
        li.integer("maxPromptValues", d.maxPromptValues(), 1, Long.MAX_VALUE),
        li.integer("parseBudgetBytes", d.parseBudgetBytes(), 1024, Long.MAX_VALUE),
        li.duration("parseQueueTimeout", d.parseQueueTimeout()));
  }

  /**
   * A {@code tls} mapping over {@code base}: keys left out keep the base's values, except that the
   * two ways of trusting exclude each other: a mapping that sets {@code caFile} trusts that file
   * (the base's {@code trustAll} does not carry over), one that sets {@code trustAll: true} trusts
   * everything (the base's {@code caFile} does not carry over). Setting both, or {@code
   * verifyHostname} where everything is trusted, is refused.
   */
  private static GatewayConfig.UpstreamTls tls(ConfigNode t, GatewayConfig.UpstreamTls base) {
    t.allowOnly("caFile", "trustAll", "verifyHostname");
    String caFile = t.string("caFile", base.caFile(), false);
    if (t.has("caFile")) checkPem(t, caFile);
    boolean trustAll = t.has("caFile") ? false : base.trustAll();
    trustAll = t.bool("trustAll", trustAll);
    if (trustAll && t.has("trustAll")) {
      if (t.has("caFile")) {
        t.problem(
            "trustAll", "trusts every certificate, so caFile would do nothing: set one of them");
      }
      caFile = null;
    }
    boolean verifyHostname = t.bool("verifyHostname", base.verifyHostname());
    if (trustAll && t.has("verifyHostname")) {
      t.problem("verifyHostname", "does nothing where trustAll accepts every certificate");
    }
    return new GatewayConfig.UpstreamTls(caFile, trustAll, verifyHostname);
  }

  /** {@code caFile} must hold at least one PEM certificate, or every TLS connection would fail. */
  private static void checkPem(ConfigNode t, String caFile) {
    if (caFile == null) return;
    try (var in = Files.newInputStream(Path.of(caFile))) {
      if (java.security.cert.CertificateFactory.getInstance("X.509")
          .generateCertificates(in)
          .isEmpty()) {
        t.problem("caFile", "'" + caFile + "' holds no certificate");
      }
    } catch (IOException e) {
      t.problem("caFile", "cannot read '" + caFile + "'");
    } catch (java.security.cert.CertificateException e) {
      t.problem("caFile", "'" + caFile + "' is not a PEM certificate file: " + e.getMessage());
    }
  }
}
