package io.kvgate.sim;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.kvgate.routing.prefix.BlockHasher;
import io.kvgate.routing.prefix.ChatPromptRenderer;
import io.vertx.core.buffer.Buffer;
import java.util.Arrays;
import org.junit.jupiter.api.Test;

/**
 * The engine's block hashes are kvgate's: the expected chains are computed here with kvgate's own
 * {@link BlockHasher} and {@link ChatPromptRenderer}, as the gateway's {@code RoutingKeyer} does.
 */
class BlockKeysTest {

  private static final ObjectMapper JSON = new ObjectMapper();
  private static final SimEngineConfig CONFIG = SimEngineConfig.defaults();
  private static final BlockHasher KVGATE = new BlockHasher(4 * CONFIG.blockSizeTokens());
  private static final String SYSTEM = "You are a careful assistant. ".repeat(20);

  private static long[] engineHashes(ObjectNode body, boolean chat) throws ApiError {
    return CompletionRequest.parse(Buffer.buffer(body.toString()), chat, CONFIG).blockHashes();
  }

  private static ObjectNode body() {
    return JSON.createObjectNode().put("model", CONFIG.model()).put("max_tokens", 4);
  }

  private static long seed(String salt) {
    return BlockHasher.seed(CONFIG.model(), null, salt);
  }

  /**
   * The engine's chain is kvgate's, plus at most the partial-char block of a prompt whose length is
   * not a multiple of 4 (see {@link BlockKeys}).
   */
  private static void assertKvgateChain(long[] kvgate, long[] engine) {
    assertArrayEquals(kvgate, Arrays.copyOf(engine, kvgate.length));
    assertTrue(engine.length - kvgate.length <= 1, "at most one partial-char block more");
  }

  @Test
  void chatWithStringContentHashesAsKvgate() throws Exception {
    ObjectNode body = body();
    body.putArray("messages")
        .add(JSON.createObjectNode().put("role", "system").put("content", SYSTEM))
        .add(JSON.createObjectNode().put("role", "user").put("content", "What is 2+2? ".repeat(9)));
    BlockHasher.Builder b = KVGATE.start(seed(null));
    ChatPromptRenderer.renderMessage(b, "system", SYSTEM);
    ChatPromptRenderer.renderMessage(b, "user", "What is 2+2? ".repeat(9));
    ChatPromptRenderer.renderGenerationPrompt(b);
    long[] expected = b.finish().toArray();
    assertTrue(expected.length >= 10, "a prompt of several blocks");
    assertKvgateChain(expected, engineHashes(body, true));
  }

  @Test
  void chatWithContentPartsHashesAsKvgate() throws Exception {
    ObjectNode body = body();
    ObjectNode user = JSON.createObjectNode().put("role", "user");
    user.putArray("content")
        .add(JSON.createObjectNode().put("type", "text").put("text", SYSTEM))
        .add(
            JSON.createObjectNode()
                .put("type", "image_url")
                .set("image_url", JSON.createObjectNode().put("url", "https://x.test/cat.png")))
        .add(
            JSON.createObjectNode()
                .put("type", "image_url")
                .set(
                    "image_url",
                    JSON.createObjectNode().put("uuid", "img-7").put("url", "https://x/y.png")))
        .add(JSON.createObjectNode().put("type", "text").put("text", " and this one? ".repeat(8)));
    body.putArray("messages").add(user);
    BlockHasher.Builder b = KVGATE.start(seed(null));
    ChatPromptRenderer.beginMessage(b, "user");
    ChatPromptRenderer.appendContent(b, SYSTEM);
    ChatPromptRenderer.appendContent(b, "https://x.test/cat.png");
    ChatPromptRenderer.appendContent(b, "img-7");
    ChatPromptRenderer.appendContent(b, " and this one? ".repeat(8));
    ChatPromptRenderer.endMessage(b);
    ChatPromptRenderer.renderGenerationPrompt(b);
    long[] expected = b.finish().toArray();
    assertKvgateChain(expected, engineHashes(body, true));
  }

  @Test
  void completionPromptHashesAsKvgate() throws Exception {
    String prompt = SYSTEM + "Continue: once upon a time..";
    assertEquals(0, prompt.length() % 4, "a prompt of whole tokens has no partial block");
    ObjectNode body = body().put("prompt", prompt);
    long[] expected = KVGATE.hash(seed(null), prompt).toArray();
    assertArrayEquals(expected, engineHashes(body, false));
    ObjectNode arrayOfOne = body();
    arrayOfOne.putArray("prompt").add(prompt);
    assertArrayEquals(expected, engineHashes(arrayOfOne, false));
  }

  @Test
  void cacheSaltSeedsTheChainAsKvgate() throws Exception {
    String prompt = SYSTEM;
    long[] salted = engineHashes(body().put("prompt", prompt).put("cache_salt", "tenant-a"), false);
    long[] expected = KVGATE.hash(seed("tenant-a"), prompt).toArray();
    assertKvgateChain(expected, salted);
    long[] unsalted = engineHashes(body().put("prompt", prompt), false);
    assertNotEquals(unsalted[0], salted[0], "another salt shares no block");
    ApiError e =
        assertThrows(
            ApiError.class,
            () -> engineHashes(body().put("prompt", prompt).put("cache_salt", ""), false));
    assertEquals(400, e.status());
  }

  @Test
  void aPartialCharBlockIsCachedUnderItsOwnHash() throws Exception {
    // 63 chars: 16 tokens (the last one of 3 chars), a full token block but not a full char block
    String prompt = "abcdefgh".repeat(7) + "abcdefg";
    long[] engine = engineHashes(body().put("prompt", prompt), false);
    assertEquals(0, KVGATE.hash(seed(null), prompt).length());
    assertEquals(1, engine.length);
    long[] longer = engineHashes(body().put("prompt", prompt + "h and more text"), false);
    assertNotEquals(engine[0], longer[0], "the partial block never matches a full one");
  }

  @Test
  void tokenIdPromptsKeepTheEnginesOwnChain() throws Exception {
    ObjectNode body = body();
    var ids = body.putArray("prompt");
    for (int i = 0; i < 40; i++) ids.add(i);
    long[] engine = engineHashes(body, false);
    assertEquals(2, engine.length);
    int[] tokens = new int[40];
    Arrays.setAll(tokens, i -> i);
    assertArrayEquals(BlockKeys.ofTokens(tokens, 16, seed(null)), engine);
  }
}
