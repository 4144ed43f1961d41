package io.kvgate.gateway.config;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import io.kvgate.routing.Endpoint;
import io.kvgate.routing.Role;
import java.io.IOException;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
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

  private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());

  private GatewayConfigLoader() {}

  public static GatewayConfig load(Path file) throws ConfigException, IOException {
    return parse(Files.readString(file), file.toString());
  }

  public static GatewayConfig parse(String yaml, String source) throws ConfigException {
    JsonNode root;
    try {
      root = YAML.readTree(yaml);
    } catch (JsonProcessingException e) {
      throw new ConfigException(
          source,
          List.of(
              "<root>: not valid YAML: "
                  + e.getOriginalMessage()
                  + (e.getLocation() == null
                      ? ""
                      : " (line " + e.getLocation().getLineNr() + ")")));
    }
    List<String> problems = new ArrayList<>();
    ConfigNode r = new ConfigNode(root, "", problems);
    if (root == null || !root.isObject()) {
      throw new ConfigException(
          source, List.of("<root>: must be a mapping with at least 'models'"));
    }
    r.allowOnly("listener", "models", "routing", "timeouts", "limits", "health", "pool");

    ConfigNode l = r.object("listener");
    l.allowOnly("host", "port", "eventLoops");
    GatewayConfig.Listener listener =
        new GatewayConfig.Listener(
            l.string("host", GatewayConfig.Listener.DEFAULT.host(), false),
            (int) l.integer("port", GatewayConfig.Listener.DEFAULT.port(), 0, 65535),
            (int) l.integer("eventLoops", GatewayConfig.Listener.defaultEventLoops(), 1, 1024));

    ConfigNode ro = r.object("routing");
    ro.allowOnly(
        "blockSizeTokens",
        "charsPerToken",
        "capacityBlocks",
        "indexTtl",
        "signalsInterval",
        "segmentCacheBytes",
        "exactMatch");
    GatewayConfig.Routing d = GatewayConfig.Routing.DEFAULT;
    GatewayConfig.Routing routing =
        new GatewayConfig.Routing(
            (int) ro.integer("blockSizeTokens", d.blockSizeTokens(), 1, 1 << 16),
            (int) ro.integer("charsPerToken", d.charsPerToken(), 1, 64),
            ro.integer("capacityBlocks", d.capacityBlocks(), 1, Long.MAX_VALUE),
            ro.duration("indexTtl", d.indexTtl()),
            ro.duration("signalsInterval", d.signalsInterval()),
            ro.integer("segmentCacheBytes", d.segmentCacheBytes(), 1, Long.MAX_VALUE),
            ro.bool("exactMatch", d.exactMatch()));

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
    li.allowOnly("maxBodyBytes", "maxAttempts", "offloadBodyBytes");
    GatewayConfig.Limits limits =
        new GatewayConfig.Limits(
            li.integer("maxBodyBytes", GatewayConfig.Limits.DEFAULT.maxBodyBytes(), 1024, 1L << 31),
            (int) li.integer("maxAttempts", GatewayConfig.Limits.DEFAULT.maxAttempts(), 1, 10),
            li.integer(
                "offloadBodyBytes",
                GatewayConfig.Limits.DEFAULT.offloadBodyBytes(),
                0,
                Long.MAX_VALUE));

    ConfigNode h = r.object("health");
    h.allowOnly("interval", "timeout", "failureThreshold");
    GatewayConfig.Health hd = GatewayConfig.Health.DEFAULT;
    GatewayConfig.Health health =
        new GatewayConfig.Health(
            h.duration("interval", hd.interval()),
            h.duration("timeout", hd.timeout()),
            (int) h.integer("failureThreshold", hd.failureThreshold(), 1, 1000));

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

    List<GatewayConfig.Model> models = new ArrayList<>();
    Set<String> modelNames = new HashSet<>();
    Set<String> endpointIds = new HashSet<>();
    List<ConfigNode> modelNodes = r.list("models", true);
    if (modelNodes.isEmpty() && !r.isMissing() && root.has("models"))
      r.problem("models", "must list at least one model");
    for (ConfigNode m : modelNodes) {
      m.allowOnly("name", "policy", "adapters", "endpoints");
      String name = m.string("name", "", true);
      if (!name.isEmpty() && !modelNames.add(name))
        m.problem("name", "duplicate model '" + name + "'");
      String policy = m.string("policy", "cache-aware", false);
      Set<String> adapters = new LinkedHashSet<>(m.strings("adapters"));
      List<Endpoint> endpoints = new ArrayList<>();
      Map<String, Long> capacities = new java.util.LinkedHashMap<>();
      List<ConfigNode> endpointNodes = m.list("endpoints", true);
      if (endpointNodes.isEmpty()) m.problem("endpoints", "must list at least one endpoint");
      for (ConfigNode e : endpointNodes) {
        e.allowOnly("url", "id", "role", "labels", "weight", "adapters", "capacityBlocks");
        String url = e.string("url", null, true);
        URI uri = null;
        if (url != null) {
          try {
            uri = new URI(url);
            if (!"http".equals(uri.getScheme()) && !"https".equals(uri.getScheme())
                || uri.getHost() == null) {
              e.problem("url", "must be an absolute http:// or https:// URL (got '" + url + "')");
              uri = null;
            }
          } catch (URISyntaxException ex) {
            e.problem("url", "is not a URL: " + ex.getMessage());
          }
        }
        Role role = e.parse("role", "both", Role::parse);
        Map<String, String> labels = e.stringMap("labels");
        double weight = e.number("weight", 1.0, 0);
        Set<String> epAdapters = new LinkedHashSet<>(e.strings("adapters"));
        if (uri != null) {
          String id = e.string("id", Endpoint.defaultId(uri), false);
          if (!endpointIds.add(name + "/" + id))
            e.problem("id", "duplicate endpoint '" + id + "' in model '" + name + "'");
          endpoints.add(new Endpoint(id, uri, name, role, labels, weight, epAdapters));
          long capacity = e.integer("capacityBlocks", 0, 0, Long.MAX_VALUE);
          if (capacity > 0) capacities.put(id, capacity);
        }
      }
      models.add(new GatewayConfig.Model(name, policy, adapters, endpoints, capacities));
    }
    if (!problems.isEmpty()) throw new ConfigException(source, problems);
    return new GatewayConfig(listener, models, routing, timeouts, limits, health, pool);
  }
}
