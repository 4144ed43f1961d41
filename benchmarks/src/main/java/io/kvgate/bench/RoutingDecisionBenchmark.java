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
import io.kvgate.routing.prefix.ChatPromptRenderer;
import io.kvgate.routing.prefix.LruPrefixIndex;
import io.kvgate.routing.prefix.SegmentHashCache;
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
 * One whole routing decision with the {@code cache-aware} preset, as the gateway makes it per
 * request: render the chat into the hasher ({@code RoutingKeyer}'s path), then {@code Router.route}
 * (index match, scoring, pick).
 *
 * <p>The request is the next turn of a conversation: a system prompt (a quarter of the prompt, at
 * most 2,048 tokens, held by every endpoint), earlier turns of about 1,024 tokens each (held by one
 * endpoint, where the previous turn went), and a new user message of 100 tokens, different in every
 * invocation. Each invocation gets its own {@code String} objects (one of four copies per message,
 * as a new request's parsed JSON would), so recognising a known segment costs a real comparison,
 * never an identity check. About one million (block, endpoint) entries in the index; endpoints
 * carry some load.
 *
 * <ul>
 *   <li>{@code decide}: with the gateway's {@link SegmentHashCache}, warmed by the setup (the
 *       gateway has seen the earlier turns: they are what is cached on the engine).
 *   <li>{@code decideCold}: without it: every character hashed, as for a prompt never seen.
 *   <li>{@code keyOnly}: {@code decide}'s first half, the chain with the segment cache.
 *   <li>{@code routeOnly}: the chain precomputed; index match, scoring and pick only.
 * </ul>
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
  private static final int TURN_CHARS = 1024 * Prompts.CHARS_PER_TOKEN;
  private static final int NEW_MESSAGE_CHARS = 100 * Prompts.CHARS_PER_TOKEN;
  private static final int COPIES = 4;
  private static final int NEW_MESSAGES = 256;

  private BlockHasher hasher;
  private long seed;

  /** Per message: {@code COPIES} equal strings, distinct objects. */
  private String[][] history;

  private String[] newMessages;
  private SegmentHashCache segments;
  private BlockChain chain;
  private Router router;
  private List<EndpointState> fleet;
  private int next;

  @Setup(Level.Trial)
  public void setUp() throws Exception {
    hasher = new BlockHasher(Prompts.BLOCK_SIZE_CHARS);
    seed = BlockHasher.seed(MODEL, null, null);
    int totalChars = promptTokens * Prompts.CHARS_PER_TOKEN;
    int systemChars = Math.min(2048 * Prompts.CHARS_PER_TOKEN, totalChars / 4);
    List<String> messages = new ArrayList<>();
    messages.add(Prompts.text(systemChars, 3));
    int left = totalChars - systemChars - NEW_MESSAGE_CHARS;
    for (int t = 0; left > 0; t++) {
      int n = Math.min(TURN_CHARS, left);
      messages.add(Prompts.text(n, 100 + t));
      left -= n;
    }
    history = new String[messages.size()][COPIES];
    for (int m = 0; m < messages.size(); m++) {
      for (int c = 0; c < COPIES; c++) history[m][c] = new String(messages.get(m).toCharArray());
    }
    newMessages = new String[NEW_MESSAGES];
    for (int i = 0; i < NEW_MESSAGES; i++)
      newMessages[i] = Prompts.text(NEW_MESSAGE_CHARS, 10_000 + i);

    segments = new SegmentHashCache(256L << 20);
    BlockChain systemChain = render(null, 0, 1, false);
    BlockChain historyChain = render(segments, 0, history.length, false); // warms the cache
    chain = render(null, 0, history.length, true);

    int promptBlocks = Math.max(chain.length(), 64);
    LruPrefixIndex index =
        new LruPrefixIndex(
            LruPrefixIndex.Settings.defaults()
                .withDefaultCapacityBlocks(Math.max(INDEX_ENTRIES / endpoints, 2L * promptBlocks))
                .withTtl(Duration.ofMinutes(10)));
    SplittableRandom random = new SplittableRandom(42);
    fleet = new ArrayList<>();
    for (int slot = 0; slot < endpoints; slot++) {
      URI url = URI.create("http://10.0." + (slot / 200) + "." + (slot % 200 + 1) + ":8000");
      EndpointState state = new EndpointState(Endpoint.of(MODEL, url), slot);
      // Load everywhere but on the history's endpoint, so that a short prompt's hit is worth
      // keeping.
      if (slot != endpoints - 1)
        for (int r = 0; r < slot % 5; r++) state.acquire(500 + random.nextInt(4000));
      fleet.add(state);
      index.recordRouted(slot, systemChain, NOW);
      long filled = 0;
      while (filled + promptBlocks <= INDEX_ENTRIES / endpoints) {
        long[] other =
            Prompts.concat(systemChain.toArray(), Prompts.randomHashes(promptBlocks, random));
        index.recordRouted(slot, Prompts.chain(other), NOW);
        filled += promptBlocks;
      }
    }
    index.recordRouted(endpoints - 1, historyChain, NOW);
    router =
        Policies.load("cache-aware", new RoutingContext(MODEL, index, new SplittableRandom(1)));
    Decision check = router.route(request(chain), fleet, NOW);
    if (check.isEmpty()) throw new IllegalStateException("no decision: " + check.reason());
    if (check.first().endpoint().slot() != endpoints - 1)
      throw new IllegalStateException("expected the history's endpoint");
  }

  /**
   * Renders messages [from, to) (+ a new user message and the generation prompt if {@code next}).
   */
  private BlockChain render(SegmentHashCache cache, int from, int to, boolean withNewMessage) {
    int copy = next & (COPIES - 1);
    BlockHasher.Builder b =
        hasher.start(seed, (long) promptTokens * Prompts.CHARS_PER_TOKEN + 64L * history.length);
    for (int m = from; m < to; m++) {
      String role = m == 0 ? "system" : (m & 1) == 1 ? "user" : "assistant";
      if (cache != null) ChatPromptRenderer.renderMessage(b, role, history[m][copy], cache);
      else ChatPromptRenderer.renderMessage(b, role, history[m][copy]);
    }
    if (withNewMessage) {
      ChatPromptRenderer.renderMessage(b, "user", newMessages[next & (NEW_MESSAGES - 1)]);
      ChatPromptRenderer.renderGenerationPrompt(b);
    }
    next++;
    return b.finish();
  }

  private RoutingRequest request(BlockChain c) {
    return new RoutingRequest(MODEL, null, null, c, promptTokens, true);
  }

  @Benchmark
  public Decision decide() {
    return router.route(request(render(segments, 0, history.length, true)), fleet, NOW);
  }

  @Benchmark
  public Decision decideCold() {
    return router.route(request(render(null, 0, history.length, true)), fleet, NOW);
  }

  /** {@code decide}'s keying half: the chain with the segment cache, no routing. */
  @Benchmark
  public BlockChain keyOnly() {
    return render(segments, 0, history.length, true);
  }

  @Benchmark
  public Decision routeOnly() {
    return router.route(request(chain), fleet, NOW);
  }
}
