package io.kvgate.routing.policy;

import static io.kvgate.routing.policy.PolicyPluginsTest.NOW;
import static io.kvgate.routing.policy.PolicyPluginsTest.compile;
import static io.kvgate.routing.policy.PolicyPluginsTest.context;
import static io.kvgate.routing.policy.PolicyPluginsTest.fleet;
import static io.kvgate.routing.policy.PolicyPluginsTest.ids;
import static io.kvgate.routing.policy.PolicyPluginsTest.request;
import static org.junit.jupiter.api.Assertions.*;

import io.kvgate.routing.Decision;
import io.kvgate.routing.EndpointState;
import io.kvgate.routing.Router;
import io.kvgate.routing.RoutingRequest;
import io.kvgate.routing.prefix.BlockChain;
import io.kvgate.routing.prefix.LruPrefixIndex;
import io.kvgate.routing.prefix.PrefixIndex;
import io.kvgate.routing.prefix.PrefixMatch;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicIntegerArray;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The framework's contracts: the index is read once per request and taught on dispatch, plugin
 * scores and orders, strict validation with YAML paths, loading by path, thread safety.
 */
class PolicyContractsTest {

  /** A second real index: the LRU index, counting how often policies read it. */
  static final class CountingIndex implements PrefixIndex {
    final LruPrefixIndex delegate = new LruPrefixIndex();
    final AtomicInteger matches = new AtomicInteger();
    final AtomicInteger routed = new AtomicInteger();

    @Override
    public Held held(int slot) {
      return delegate.held(slot);
    }

    @Override
    public void mergeHeld(
        int slot, long[] hashes, long[] parents, int from, int to, long nowNanos) {
      delegate.mergeHeld(slot, hashes, parents, from, to, nowNanos);
    }

    @Override
    public PrefixMatch match(BlockChain chain, long nowNanos) {
      matches.incrementAndGet();
      return delegate.match(chain, nowNanos);
    }

    @Override
    public void recordRouted(int slot, BlockChain chain, long nowNanos) {
      routed.incrementAndGet();
      delegate.recordRouted(slot, chain, nowNanos);
    }

    @Override
    public void blocksStored(int slot, long[] hashes, int from, int to, long nowNanos) {
      delegate.blocksStored(slot, hashes, from, to, nowNanos);
    }

    @Override
    public void blocksStored(
        int slot,
        long[] hashes,
        int from,
        int to,
        long parentHash,
        boolean hasParent,
        long nowNanos) {
      delegate.blocksStored(slot, hashes, from, to, parentHash, hasParent, nowNanos);
    }

    @Override
    public void snapshotStored(
        int slot, long[] hashes, long[] parents, int from, int to, long nowNanos) {
      delegate.snapshotStored(slot, hashes, parents, from, to, nowNanos);
    }

    @Override
    public long holes(int slot) {
      return delegate.holes(slot);
    }

    @Override
    public void blocksRemoved(int slot, long[] hashes, int from, int to) {
      delegate.blocksRemoved(slot, hashes, from, to);
    }

    @Override
    public long clearEndpoint(int slot) {
      return delegate.clearEndpoint(slot);
    }

    @Override
    public void setExpires(int slot, boolean expires) {
      delegate.setExpires(slot, expires);
    }

    @Override
    public void setCapacityBlocks(int slot, long capacityBlocks) {
      delegate.setCapacityBlocks(slot, capacityBlocks);
    }

    @Override
    public long capacityBlocks(int slot) {
      return delegate.capacityBlocks(slot);
    }

    @Override
    public long heldBlocks(int slot) {
      return delegate.heldBlocks(slot);
    }

    @Override
    public double recentInsertedBlocks(int slot, long nowNanos) {
      return delegate.recentInsertedBlocks(slot, nowNanos);
    }

    @Override
    public long size() {
      return delegate.size();
    }

    @Override
    public long estimatedBytes() {
      return delegate.estimatedBytes();
    }
  }

  static final String PURE_AFFINITY =
      """
      plugins: [{type: healthy-filter}, {type: prefix-affinity-scorer}, {type: max-score-picker}]
      profiles: [{name: default, plugins: [healthy-filter, prefix-affinity-scorer, max-score-picker]}]
      """;

  static final String LONG_PROMPT =
      "A shared system prompt that many requests start with. ".repeat(200);

  @Test
  void prefixAffinityScoresMatchedOverPromptBlocksAndFillsMatchedBlocks() throws Exception {
    List<EndpointState> fleet = fleet(4);
    Router r = compile(PURE_AFFINITY, context());
    RoutingRequest a = request(LONG_PROMPT, null, null);
    r.onDispatched(a, fleet.get(2), NOW);
    Decision d = r.route(a, fleet, NOW);
    int blocks = a.chain().length();
    assertEquals(blocks, d.promptBlocks());
    assertEquals("e2", d.first().endpoint().id());
    assertEquals(blocks, d.first().matchedBlocks());
    assertEquals(1.0, d.first().score(), 1e-6);
    for (Decision.Candidate c : d.ranked().subList(1, 4)) {
      assertEquals(0, c.matchedBlocks(), c.toString());
      assertEquals(0.0, c.score(), 1e-6);
    }
    RoutingRequest half =
        request(
            LONG_PROMPT.substring(0, LONG_PROMPT.length() / 2)
                + "x".repeat(LONG_PROMPT.length() / 2),
            null,
            null);
    Decision h = r.route(half, fleet, NOW);
    assertEquals(
        (double) h.first().matchedBlocks() / half.chain().length(), h.first().score(), 1e-6);
    assertTrue(
        h.first().score() > 0.4 && h.first().score() < 0.6,
        "about half matched: " + h.first().score());
  }

  @Test
  void indexIsMatchedOncePerRequestAndTaughtOnDispatch() throws Exception {
    CountingIndex index = new CountingIndex();
    RoutingContext ctx = new RoutingContext("m", index, new SplittableRandom(1));
    List<EndpointState> fleet = fleet(3);
    Router r =
        compile(
            """
        plugins: [{type: prefix-affinity-scorer}, {name: prefix2, type: prefix-affinity-scorer}, {type: max-score-picker}]
        profiles: [{name: default, plugins: [{ref: prefix-affinity-scorer, weight: 2}, prefix2, max-score-picker]}]
        """,
            ctx);
    RoutingRequest a = request(LONG_PROMPT, null, null);
    Decision d = r.route(a, fleet, NOW);
    assertEquals(1, index.matches.get(), "one lookup shared by both scorers");
    r.onDispatched(a, d.first().endpoint(), NOW);
    assertEquals(1, index.routed.get());
    assertEquals(a.chain().length(), index.heldBlocks(d.first().endpoint().slot()));

    RoutingRequest unkeyed = RoutingRequest.unkeyed("m");
    assertEquals(3, r.route(unkeyed, fleet, NOW).ranked().size());
    r.onDispatched(unkeyed, fleet.get(0), NOW);
    assertEquals(1, index.matches.get(), "an unkeyed request is not matched");
    assertEquals(1, index.routed.get(), "nor taught");
  }

  @Test
  void policiesWithoutPrefixPluginsNeverTouchTheIndex() throws Exception {
    CountingIndex index = new CountingIndex();
    RoutingContext ctx = new RoutingContext("m", index, new SplittableRandom(1));
    List<EndpointState> fleet = fleet(3);
    for (String preset : List.of("round-robin", "random", "least-loaded", "session-affinity")) {
      Router r = Policies.load(preset, ctx);
      RoutingRequest a = request(LONG_PROMPT, "s", null);
      r.onDispatched(a, r.route(a, fleet, NOW).first().endpoint(), NOW);
    }
    assertEquals(0, index.matches.get());
    assertEquals(0, index.routed.get());
    assertEquals(0, index.size());
  }

  @Test
  void theIndexOutlivesAPolicyReload() throws Exception {
    RoutingContext ctx = context();
    List<EndpointState> fleet = fleet(4);
    Router before = Policies.load("cache-aware", ctx);
    RoutingRequest a = request(LONG_PROMPT + "turn 1", null, null);
    EndpointState holder = before.route(a, fleet, NOW).first().endpoint();
    before.onDispatched(a, holder, NOW);
    Router after = Policies.load("cache-aware", ctx);
    Decision d = after.route(request(LONG_PROMPT + "turn 2", null, null), fleet, NOW);
    assertEquals(holder, d.first().endpoint());
    assertTrue(d.first().matchedBlocks() > 0);
  }

  @Test
  void cacheAwareKeepsAHitOnAModeratelyBusyHolder() throws Exception {
    List<EndpointState> fleet = fleet(4);
    Router r = Policies.load("cache-aware", context());
    RoutingRequest a = request(LONG_PROMPT + "q1", null, null);
    EndpointState holder = r.route(a, fleet, NOW).first().endpoint();
    r.onDispatched(a, holder, NOW);
    // Queued work well below the prefill the hit saves: the hit stays.
    EndpointState.Lease lease = holder.acquire(a.promptTokens() / 4);
    Decision d = r.route(request(LONG_PROMPT + "q2", null, null), fleet, NOW);
    assertEquals(holder, d.first().endpoint());
    assertEquals(4, d.ranked().size(), "the others stay as retries");
    lease.release();
  }

  @Test
  void sessionAffinityScorerPicksOneEndpointStablyAsOthersLeave() throws Exception {
    Router r =
        compile(
            """
        plugins: [{type: session-affinity-scorer}, {type: max-score-picker}]
        profiles: [{name: default, plugins: [session-affinity-scorer, max-score-picker]}]
        """,
            context());
    List<EndpointState> fleet = fleet(5);
    for (int s = 0; s < 20; s++) {
      Decision d = r.route(request("p", "user-" + s, null), fleet, NOW);
      assertEquals(1.0, d.first().score(), 1e-6);
      for (Decision.Candidate c : d.ranked().subList(1, 5)) assertEquals(0.0, c.score(), 1e-6);
      EndpointState chosen = d.first().endpoint();
      List<EndpointState> fewer = new ArrayList<>(fleet);
      fewer.remove(fleet.stream().filter(e -> e != chosen).findFirst().orElseThrow());
      assertEquals(
          chosen,
          r.route(request("p", "user-" + s, null), fewer, NOW).first().endpoint(),
          "removing another endpoint does not move the session");
    }
    Decision none = r.route(request("p", null, null), fleet, NOW);
    assertTrue(
        none.ranked().stream().allMatch(c -> Math.abs(c.score()) < 1e-6),
        "no session key: no preference");
  }

  @Test
  void maxScorePickerBreaksTiesWithTheSeededRandom() throws Exception {
    String yaml =
        """
        plugins: [{type: max-score-picker}]
        profiles: [{name: default, plugins: [max-score-picker]}]
        """;
    List<EndpointState> fleet = fleet(4);
    List<String> run1 = new ArrayList<>();
    List<String> run2 = new ArrayList<>();
    Router r1 =
        compile(yaml, new RoutingContext("m", new LruPrefixIndex(), new SplittableRandom(42)));
    Router r2 =
        compile(yaml, new RoutingContext("m", new LruPrefixIndex(), new SplittableRandom(42)));
    for (int i = 0; i < 100; i++) {
      run1.add(r1.route(request("a", null, null), fleet, NOW).first().endpoint().id());
      run2.add(r2.route(request("a", null, null), fleet, NOW).first().endpoint().id());
    }
    assertEquals(Set.of("e0", "e1", "e2", "e3"), Set.copyOf(run1), "ties spread");
    assertEquals(run1, run2, "same seed, same choices");
  }

  @Test
  void roundRobinRotatesTheWholeList() throws Exception {
    List<EndpointState> fleet = fleet(4);
    Router r = Policies.load("round-robin", context());
    assertEquals(
        List.of("e0", "e1", "e2", "e3"), ids(r.route(request("a", null, null), fleet, NOW)));
    assertEquals(
        List.of("e1", "e2", "e3", "e0"), ids(r.route(request("a", null, null), fleet, NOW)));
    assertEquals(
        List.of("e2", "e3", "e0", "e1"), ids(r.route(request("a", null, null), fleet, NOW)));
  }

  @Test
  void roundRobinIsExactlyEvenUnderConcurrentCallers() throws Exception {
    List<EndpointState> fleet = fleet(4);
    Router r = Policies.load("round-robin", context());
    AtomicIntegerArray firsts = new AtomicIntegerArray(4);
    RoutingRequest req = request("a", null, null);
    List<Thread> threads = new ArrayList<>();
    for (int t = 0; t < 4; t++) {
      threads.add(
          new Thread(
              () -> {
                for (int i = 0; i < 2_000; i++)
                  firsts.incrementAndGet(r.route(req, fleet, NOW).first().endpoint().slot());
              }));
    }
    threads.forEach(Thread::start);
    for (Thread t : threads) t.join();
    for (int s = 0; s < 4; s++) assertEquals(2_000, firsts.get(s), "slot " + s);
  }

  @Test
  void dynamoWithTemperatureZeroIsArgminWithRandomTies() throws Exception {
    List<EndpointState> fleet = fleet(3);
    Router r = Policies.load("dynamo-kv", context());
    Set<String> firsts = new HashSet<>();
    for (int i = 0; i < 60; i++)
      firsts.add(r.route(request("fresh", null, null), fleet, NOW).first().endpoint().id());
    assertEquals(3, firsts.size(), "an idle, cold fleet is a three-way tie");
    fleet.get(0).acquire(5_000, 5_000);
    fleet.get(2).acquire(5_000, 5_000);
    for (int i = 0; i < 20; i++)
      assertEquals("e1", r.route(request("fresh", null, null), fleet, NOW).first().endpoint().id());
  }

  @Test
  void noPresetRanksAnUnhealthyEndpoint() throws Exception {
    List<EndpointState> fleet = fleet(4);
    fleet.get(1).setHealthy(false);
    for (String preset : Policies.presetNames()) {
      Router r = Policies.load(preset, context());
      for (int i = 0; i < 10; i++) {
        Decision d = r.route(request(LONG_PROMPT + i, "s" + i, null), fleet, NOW);
        assertEquals(3, d.ranked().size(), preset);
        assertFalse(ids(d).contains("e1"), preset);
      }
      assertEquals(
          "no endpoints", r.route(request("a", null, null), List.of(), NOW).reason(), preset);
    }
  }

  @Test
  void wrongTypesUnknownKeysAndMisplacedWeightsAreReportedWithPaths() {
    String yaml =
        """
        name: 5
        plugins:
          - {type: softmax-picker, parameters: {temperature: hot}}
          - {type: bounded-load-hash-picker, parameters: {c: 0.5}}
          - {type: queue-scorer, parameters: {maxSignalAge: 5}}
          - {type: label-tier-filter}
          - {type: kv-cache-scorer, parameters: [1, 2]}
          - {name: nameless}
          - {type: in-flight-scorer, params: {}}
          - {type: healthy-filter, parameters: {strict: true}}
          - {name: in-flight-scorer, type: pending-prefill-scorer}
        profiles:
          - name: default
            colour: red
            plugins: [{ref: healthy-filter, weight: 2}, {ref: queue-scorer, wieght: 3}, {ref: softmax-picker}]
          - name: fast
            plugins: [{ref: softmax-picker}]
        """;
    PolicyException e = assertThrows(PolicyException.class, () -> Policies.parse(yaml, "bad.yaml"));
    List<String> p = e.problems().stream().map(Object::toString).toList();
    for (String expected :
        List.of(
            "name: must be a string",
            "plugins[0].parameters.temperature: must be a number",
            "plugins[1].parameters.c: must be between 1 and 100 (got 0.5)",
            "plugins[2].parameters.maxSignalAge: must be a duration",
            "plugins[3].parameters.label: is required",
            "plugins[3].parameters.tiers: is required",
            "plugins[4].parameters: must be a mapping",
            "plugins[5].type: is required (known: ",
            "plugins[6].params: unknown key",
            "plugins[7].parameters.strict: unknown key (none allowed here)",
            "plugins[8].name: duplicate plugin name 'in-flight-scorer'",
            "profiles[0].colour: unknown key (allowed: name, plugins)",
            "profiles[0].plugins[0].weight: only scorers take a weight ('healthy-filter' is a filter)",
            "profiles[0].plugins[1].wieght: unknown key (allowed: ref, weight)",
            "profiles[1].name: unknown profile 'fast': 'default' routes requests",
            "plugins[1]: plugin 'bounded-load-hash-picker' is defined but no profile uses it")) {
      assertTrue(
          p.stream().anyMatch(s -> s.startsWith(expected)), "missing '" + expected + "' in " + p);
    }
    assertTrue(e.getMessage().startsWith("bad.yaml: "), e.getMessage());
  }

  @Test
  void aProfileWithoutAPickerIsRejected() {
    PolicyException e =
        assertThrows(
            PolicyException.class,
            () ->
                Policies.parse(
                    "plugins: [{type: healthy-filter}]\nprofiles: [{name: default, plugins: [healthy-filter]}]",
                    "x"));
    assertEquals(
        List.of("profiles[0].plugins: must reference exactly one picker (found 0)"),
        e.problems().stream().map(Object::toString).toList());
  }

  @Test
  void invalidYamlAndNonMappingsAreOneClearProblem() {
    PolicyException syntax =
        assertThrows(PolicyException.class, () -> Policies.parse("plugins: [", "x.yaml"));
    assertTrue(
        syntax.problems().get(0).message().startsWith("not valid YAML"), syntax.getMessage());
    PolicyException list =
        assertThrows(PolicyException.class, () -> Policies.parse("- a\n- b\n", "x.yaml"));
    assertEquals(1, list.problems().size());
  }

  @Test
  void loadReadsAPolicyFileByPath(@TempDir Path dir) throws Exception {
    Path file = dir.resolve("mine.yaml");
    Files.writeString(file, "name: mine\n" + PURE_AFFINITY);
    Router r = Policies.load(file.toString(), context());
    assertEquals("mine", r.name());
    assertEquals(3, r.route(request("a", null, null), fleet(3), NOW).ranked().size());
    assertTrue(
        Policies.presetNames()
            .containsAll(
                List.of(
                    "round-robin",
                    "random",
                    "least-loaded",
                    "session-affinity",
                    "cache-aware",
                    "sglang-cache-aware",
                    "dynamo-kv")));
  }
}
