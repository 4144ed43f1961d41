package io.kvgate.bench;

import io.kvgate.routing.Decision;
import io.kvgate.routing.Endpoint;
import io.kvgate.routing.EndpointState;
import io.kvgate.routing.Router;
import io.kvgate.routing.RoutingRequest;
import io.kvgate.routing.policy.Policies;
import io.kvgate.routing.policy.RoutingContext;
import io.kvgate.routing.prefix.BlockChain;
import io.kvgate.routing.prefix.BlockHasher;
import io.kvgate.routing.prefix.LruPrefixIndex;
import java.net.URI;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;

/**
 * One whole routing decision with the {@code cache-aware} preset: hash the prompt into its chain
 * ({@code decide}) and route it (index match, scoring, pick), as the gateway does per request;
 * {@code routeOnly} is the same without the hashing (chain precomputed). The index holds about
 * one million (block, endpoint) entries; the request continues a conversation one endpoint holds
 * (3/4 of its blocks cached there), all endpoints share a system prompt, and endpoints
 * carry some load so the load scorers have work to do.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.SampleTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
public class RoutingDecisionBenchmark {

  @Param({"1024", "8192", "32768", "131072"})
  public int promptTokens;

  @Param({"4", "64", "256"})
  public int endpoints;

  private static final String MODEL = "meta-llama/Llama-3.1-8B-Instruct";
  private static final long NOW = 1_000_000_000_000L;
  private static final int INDEX_ENTRIES = 1_000_000;

  private BlockHasher hasher;
  private long seed;
  private String prompt;
  private BlockChain chain;
  private Router router;
  private List<EndpointState> fleet;

  @Setup(Level.Trial)
  public void setUp() throws Exception {
    hasher = new BlockHasher(Prompts.BLOCK_SIZE_CHARS);
    seed = BlockHasher.seed(MODEL, null, null);
    int systemBlocks = Math.min(64, promptTokens * Prompts.CHARS_PER_TOKEN / Prompts.BLOCK_SIZE_CHARS / 4);
    String system = Prompts.text(systemBlocks * Prompts.BLOCK_SIZE_CHARS, 3);
    String conversation = system + Prompts.text(promptTokens * Prompts.CHARS_PER_TOKEN - system.length(), 4);
    int cached = conversation.length() * 3 / 4;
    prompt = conversation.substring(0, cached)
        + Prompts.text(conversation.length() - cached, 5);
    chain = hasher.hash(seed, prompt);

    int promptBlocks = Math.max(chain.length(), 64);
    LruPrefixIndex index = new LruPrefixIndex(LruPrefixIndex.Settings.defaults()
        .withDefaultCapacityBlocks(Math.max(INDEX_ENTRIES / endpoints, 2L * promptBlocks))
        .withTtl(Duration.ofMinutes(10)));
    BlockChain systemChain = hasher.hash(seed, system);
    SplittableRandom random = new SplittableRandom(42);
    fleet = new ArrayList<>();
    for (int slot = 0; slot < endpoints; slot++) {
      URI url = URI.create("http://10.0." + (slot / 200) + "." + (slot % 200 + 1) + ":8000");
      EndpointState state = new EndpointState(Endpoint.of(MODEL, url), slot);
      for (int r = 0; r < slot % 5; r++) state.acquire(500 + random.nextInt(4000));
      fleet.add(state);
      index.recordRouted(slot, systemChain, NOW);
      long filled = 0;
      while (filled + promptBlocks <= INDEX_ENTRIES / endpoints) {
        long[] other = Prompts.concat(systemChain.toArray(), Prompts.randomHashes(promptBlocks, random));
        index.recordRouted(slot, Prompts.chain(other), NOW);
        filled += promptBlocks;
      }
    }
    index.recordRouted(endpoints - 1, hasher.hash(seed, conversation), NOW);
    router = Policies.load("cache-aware", new RoutingContext(MODEL, index, new SplittableRandom(1)));
    Decision check = router.route(request(chain), fleet, NOW);
    if (check.isEmpty()) throw new IllegalStateException("no decision: " + check.reason());
  }

  private RoutingRequest request(BlockChain c) {
    return new RoutingRequest(MODEL, null, null, c, promptTokens, 0, true);
  }

  @Benchmark
  public Decision decide() {
    BlockChain c = hasher.start(seed, prompt.length()).append(prompt).finish();
    return router.route(request(c), fleet, NOW);
  }

  @Benchmark
  public Decision routeOnly() {
    return router.route(request(chain), fleet, NOW);
  }
}
