package io.kvgate.sim;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;

class PromptTokenizerTest {

  private static final ObjectMapper JSON = new ObjectMapper();

  @Test
  void fourCharsPerTokenAndIdsDependOnContent() {
    assertEquals(0, PromptTokenizer.countTokens(""));
    assertEquals(1, PromptTokenizer.countTokens("abc"));
    assertEquals(2, PromptTokenizer.countTokens("abcde"));
    int[] a = PromptTokenizer.encode("hello world!");
    assertEquals(3, a.length);
    assertArrayEquals(a, PromptTokenizer.encode("hello world!"));
    int[] b = PromptTokenizer.encode("hello World!");
    assertEquals(a[0], b[0]);
    assertNotEquals(a[1], b[1]);
    for (int id : a) assertTrue(id >= 0);
  }

  @Test
  void chatTemplateIsChatMl() throws Exception {
    String rendered =
        PromptTokenizer.renderChat(
            JSON.readTree(
                "[{\"role\":\"system\",\"content\":\"Be brief.\"},"
                    + "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"Hi \"},"
                    + "{\"type\":\"image_url\",\"image_url\":{\"url\":\"http://x/y.png\"}},{\"type\":\"text\",\"text\":\"!\"}]},"
                    + "{\"role\":\"assistant\",\"content\":null}]"));
    assertEquals(
        "<|im_start|>system\nBe brief.<|im_end|>\n"
            + "<|im_start|>user\nHi http://x/y.png!<|im_end|>\n"
            + "<|im_start|>assistant\n<|im_end|>\n"
            + "<|im_start|>assistant\n",
        rendered);
  }

  @Test
  void blocksAlignWithCharBlocksOfFourTimesBlockSize() {
    String shared = "x".repeat(64 * 3);
    long[] a = BlockKeys.ofText(shared + "tail one", 16, 0);
    long[] b = BlockKeys.ofText(shared + "another tail entirely", 16, 0);
    assertEquals(3, a.length);
    assertArrayEquals(a, java.util.Arrays.copyOf(b, 3));
  }

  @Test
  void rejectsMalformedMessages() throws Exception {
    assertThrows(
        IllegalArgumentException.class, () -> PromptTokenizer.renderChat(JSON.readTree("[]")));
    assertThrows(
        IllegalArgumentException.class,
        () -> PromptTokenizer.renderChat(JSON.readTree("[{\"content\":\"x\"}]")));
    assertThrows(
        IllegalArgumentException.class, () -> PromptTokenizer.renderChat(JSON.readTree("{}")));
  }
}
