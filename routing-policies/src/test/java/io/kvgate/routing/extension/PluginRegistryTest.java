package io.kvgate.routing.extension;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.kvgate.routing.Decision;
import io.kvgate.routing.Endpoint;
import io.kvgate.routing.EndpointState;
import io.kvgate.routing.Router;
import io.kvgate.routing.RoutingRequest;
import io.kvgate.routing.policy.Filter;
import io.kvgate.routing.policy.Param;
import io.kvgate.routing.policy.PluginRegistry;
import io.kvgate.routing.policy.PluginType;
import io.kvgate.routing.policy.Policies;
import io.kvgate.routing.policy.PolicyException;
import io.kvgate.routing.policy.RoutingContext;
import io.kvgate.routing.prefix.LruPrefixIndex;
import java.net.URI;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * The plugin registry from outside the routing library: a type registered by other code is parsed,
 * validated and compiled like a built-in, with its parameters and defaults declared once.
 */
class PluginRegistryTest {

  /** A filter that keeps endpoints whose id ends with a suffix: the extension under test. */
  record SuffixFilter(
      @Param(doc = "id suffix to keep", required = true) String suffix,
      @Param(doc = "how long the rule holds") Duration hold)
      implements Filter {
    static final SuffixFilter DEFAULTS = new SuffixFilter(null, Duration.ofMinutes(90));

    @Override
    public List<EndpointState> apply(RoutingRequest r, List<EndpointState> in, long now) {
      List<EndpointState> out = new ArrayList<>();
      for (EndpointState e : in) if (e.id().endsWith(suffix)) out.add(e);
      return out;
    }
  }

  static final PluginRegistry REGISTRY =
      PluginRegistry.builtIn()
          .withFilter(
              "suffix-filter",
              "keeps endpoints whose id ends with a suffix",
              SuffixFilter.class,
              SuffixFilter.DEFAULTS,
              p -> p);

  static RoutingContext context() {
    return new RoutingContext("m", new LruPrefixIndex(), new SplittableRandom(1));
  }

  static List<EndpointState> fleet() {
    List<EndpointState> out = new ArrayList<>();
    for (String id : List.of("a-east", "b-west", "c-east")) {
      out.add(
          new EndpointState(
              new Endpoint(
                  id,
                  URI.create("http://" + id + ":8000"),
                  "m",
                  io.kvgate.routing.Role.BOTH,
                  java.util.Map.of(),
                  1,
                  java.util.Set.of()),
              out.size()));
    }
    return out;
  }

  @Test
  void aTypeRegisteredOutsideTheLibraryParsesValidatesAndRoutes() throws Exception {
    String yaml =
        """
        plugins:
          - {type: suffix-filter, parameters: {suffix: "-east", hold: 1.5h}}
          - {type: round-robin-picker}
        profiles:
          - {name: default, plugins: [suffix-filter, round-robin-picker]}
        """;
    Router r = Policies.compile(Policies.parse(yaml, "ext.yaml", REGISTRY), context());
    Decision d = r.route(RoutingRequest.unkeyed("m"), fleet(), 0);
    assertEquals(
        List.of("a-east", "c-east"),
        d.ranked().stream().map(c -> c.endpoint().id()).sorted().toList());

    PolicyException e =
        assertThrows(
            PolicyException.class,
            () ->
                Policies.parse(
                    yaml.replace("suffix: \"-east\", hold: 1.5h", "hold: soon"),
                    "ext.yaml",
                    REGISTRY));
    assertEquals(
        List.of(
            "plugins[0].parameters.suffix: is required",
            "plugins[0].parameters.hold: must be a duration such as 500ms, 30s, 5m or 1h (got 'soon')"),
        e.problems().stream().map(Object::toString).toList());

    assertThrows(
        PolicyException.class,
        () -> Policies.parse(yaml, "ext.yaml"),
        "the built-in registry does not know the extension");
  }

  @Test
  void theRegistryDescribesEveryParameterFromItsRecord() {
    PluginType<?, ?> t = REGISTRY.type("suffix-filter");
    assertEquals(PluginType.Kind.FILTER, t.kind());
    assertEquals(
        List.of(
            new PluginType.ParamDoc("suffix", "string", "required", "", "id suffix to keep"),
            new PluginType.ParamDoc("hold", "duration", "90m", "", "how long the rule holds")),
        t.parameterDocs());
    String table = REGISTRY.markdown();
    assertTrue(table.contains("| `suffix-filter` | filter |"), table);
    assertTrue(table.contains("`insertionWeight` double (7; 0 to 100)"), table);
    assertThrows(
        IllegalArgumentException.class,
        () ->
            REGISTRY.withFilter(
                "suffix-filter", "again", SuffixFilter.class, SuffixFilter.DEFAULTS, p -> p),
        "a type name is registered once");
  }

  @Test
  void scorersNextToAPickerThatRanksByItselfAreRefused() {
    for (String picker :
        List.of(
            "cache-aware-picker",
            "dynamo-kv-picker",
            "sglang-cache-aware-picker",
            "round-robin-picker",
            "random-picker",
            "bounded-load-hash-picker")) {
      String yaml =
          "plugins: [{type: prefix-affinity-scorer}, {type: "
              + picker
              + "}]\nprofiles: [{name: default, plugins: [{ref: prefix-affinity-scorer, weight: 3}, "
              + picker
              + "]}]";
      PolicyException e =
          assertThrows(PolicyException.class, () -> Policies.parse(yaml, "x"), picker);
      assertEquals(
          "profiles[0].plugins[0]: scorer 'prefix-affinity-scorer' would be ignored: '"
              + picker
              + "' ranks endpoints by itself and reads no scores (combine scorers with"
              + " max-score-picker or softmax-picker)",
          e.problems().get(0).toString());
    }
  }

  @Test
  void policyFilesTakeTheGatewayConfigsDurationSyntax() throws Exception {
    for (String d : List.of("250ms", "5s", "1.5m", "1h")) {
      Policies.parse(
          "plugins: [{type: queue-scorer, parameters: {maxSignalAge: "
              + d
              + "}}, {type: max-score-picker}]\nprofiles: [{name: default, plugins: [queue-scorer, max-score-picker]}]",
          "x");
    }
  }

  @Test
  void routingDocsCarryTheRegistrysOwnTable() throws Exception {
    java.nio.file.Path docs = java.nio.file.Path.of("..", "docs", "ROUTING.md");
    String text = java.nio.file.Files.readString(docs);
    int begin = text.indexOf("<!-- plugins:begin -->\n");
    int end = text.indexOf("<!-- plugins:end -->");
    assertTrue(begin >= 0 && end > begin, "docs/ROUTING.md has the plugins markers");
    assertEquals(
        PluginRegistry.builtIn().markdown(),
        text.substring(begin + "<!-- plugins:begin -->\n".length(), end),
        "docs/ROUTING.md's plugin table is stale: paste `kvgate plugins` between the markers");
  }

  /**
   * An extension whose record checks its own fields: a bad combination is a problem, not a crash.
   */
  record WindowScorer(
      @Param(doc = "lower bound", min = 0, max = 100) double low,
      @Param(doc = "upper bound", min = 0, max = 100) double high)
      implements io.kvgate.routing.policy.Scorer {
    static final WindowScorer DEFAULTS = new WindowScorer(0, 1);

    WindowScorer {
      if (low > high) throw new IllegalArgumentException("low must not exceed high");
    }

    @Override
    public void score(io.kvgate.routing.policy.Candidates c, double[] out) {
      java.util.Arrays.fill(out, 0, c.size(), low);
    }
  }

  @Test
  void aParameterRecordThatRefusesItsValuesYieldsAProblemWithItsPath() {
    PluginRegistry r =
        PluginRegistry.builtIn()
            .withScorer("window-scorer", "test", WindowScorer.class, WindowScorer.DEFAULTS, p -> p);
    PolicyException e =
        assertThrows(
            PolicyException.class,
            () ->
                Policies.parse(
                    "plugins: [{type: window-scorer, parameters: {low: 5, high: 2}}, {type: max-score-picker}]\n"
                        + "profiles: [{name: default, plugins: [window-scorer, max-score-picker]}]",
                    "x",
                    r));
    assertEquals(
        List.of("plugins[0].parameters: low must not exceed high"),
        e.problems().stream().map(Object::toString).toList());
    assertThrows(
        IllegalArgumentException.class,
        () ->
            PluginRegistry.builtIn()
                .withFilter(
                    "bad",
                    "min on a string",
                    BadRange.class,
                    BadRange.DEFAULTS,
                    p -> (rq, in, n) -> in),
        "min/max apply to numbers only");
  }

  record BadRange(@Param(doc = "x", min = 1) String name) {
    static final BadRange DEFAULTS = new BadRange("a");
  }
}
