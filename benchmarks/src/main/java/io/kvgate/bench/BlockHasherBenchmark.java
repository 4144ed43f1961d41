package io.kvgate.bench;

import io.kvgate.routing.prefix.BlockChain;
import io.kvgate.routing.prefix.BlockHasher;
import io.kvgate.routing.prefix.ChatPromptRenderer;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;

/**
 * Hashing a prompt into its block chain: the only per-request work proportional to the prompt.
 * Throughput in GB/s = {@code promptTokens * 4 chars * 2 bytes / time} (UTF-16 bytes hashed).
 *
 * <p>{@code hashPrompt} hashes one string; {@code hashChat} renders a system message, a user
 * message and the generation prompt through {@link ChatPromptRenderer}, the gateway's path.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
public class BlockHasherBenchmark {

  @Param({"1024", "8192", "32768", "131072"})
  public int promptTokens;

  private BlockHasher hasher;
  private long seed;
  private String prompt;
  private String system;
  private String user;

  @Setup
  public void setUp() {
    hasher = new BlockHasher(Prompts.BLOCK_SIZE_CHARS);
    seed = BlockHasher.seed("meta-llama/Llama-3.1-8B-Instruct", null, null);
    prompt = Prompts.text(promptTokens * Prompts.CHARS_PER_TOKEN, 1);
    system = prompt.substring(0, prompt.length() / 4);
    user = prompt.substring(prompt.length() / 4);
  }

  @Benchmark
  public BlockChain hashPrompt() {
    return hasher.start(seed, prompt.length()).append(prompt).finish();
  }

  @Benchmark
  public BlockChain hashChat() {
    BlockHasher.Builder b = hasher.start(seed, prompt.length() + 64);
    ChatPromptRenderer.renderMessage(b, "system", system);
    ChatPromptRenderer.renderMessage(b, "user", user);
    ChatPromptRenderer.renderGenerationPrompt(b);
    return b.finish();
  }
}
