package io.kvgate.routing.prefix;

import java.util.Arrays;

/**
 * Cuts a prompt into fixed-size blocks of characters and hashes them into a {@link BlockChain}.
 *
 * <p>Design. Each full block {@code i} is hashed with XXH64 over the UTF-16LE bytes of its
 * characters, seeded with the hash of block {@code i - 1} (block 0 is seeded with {@link
 * #seed(String, String, String)}). The chain therefore has the property the prefix index relies on:
 * two prompts share their first {@code k} hashes exactly when they share their first {@code k}
 * blocks and their seed (model, adapter, cache salt), up to 64-bit collisions. The same scheme,
 * chained xxhash64 seeded with the model, is what the llm-d approximate prefix producer uses.
 *
 * <p>XXH64 (Yann Collet, <a href="https://github.com/Cyan4973/xxHash">xxHash</a>) keeps four
 * independent 64-bit lanes over 32-byte stripes, so a core retires the four multiplies of a stripe
 * in parallel instead of waiting on one serial accumulator; the avalanche at the end of each block
 * makes every output bit depend on every input bit. Characters are read straight from the caller's
 * {@link CharSequence} and packed four to a {@code long} (the little-endian view of their UTF-16
 * bytes), so nothing of the prompt is copied. (Copying a long {@code String} through a small
 * scratch {@code char[]} with {@code getChars} was tried: 1.4× slower on JDK 17, see
 * docs/BENCHMARKS.md §4.) The only allocation is the growing {@code long[]} of block hashes
 * (amortized doubling, one trimmed copy in {@link Builder#finish()}).
 *
 * <p>Streaming. A {@link Builder} keeps the XXH64 state of the current partial block, so a prompt
 * may be appended in any chunking (message by message, part by part) and yields the same chain as
 * one {@code append} of the concatenation. When the state sits on a stripe boundary and 16 more
 * characters of the same block are available, a stripe is hashed directly from the input (the hot
 * loop); otherwise characters go one at a time through a small word buffer.
 *
 * <p>Costs. O(characters) time, one multiply-rotate per 8 bytes plus one XXH64 finalization per
 * block; O(blocks) memory. Only full blocks are hashed into the chain: a trailing partial block is
 * counted in {@link BlockChain#totalUnits()} and otherwise ignored, because an engine caches only
 * full blocks as well.
 *
 * <p>Thread safety: a {@code BlockHasher} is immutable and shareable; a {@link Builder} belongs to
 * one thread and one prompt.
 */
public final class BlockHasher {

  static final long P1 = 0x9E3779B185EBCA87L;
  static final long P2 = 0xC2B2AE3D27D4EB4FL;
  static final long P3 = 0x165667B19E3779F9L;
  static final long P4 = 0x85EBCA77C2B2AE63L;
  static final long P5 = 0x27D4EB2F165667C5L;

  private static final int INITIAL_BLOCKS = 16;

  private final int blockSizeChars;

  /**
   * @param blockSizeChars characters per block, at least 1 (a block of 16 tokens is about 64
   *     characters of English text)
   */
  public BlockHasher(int blockSizeChars) {
    if (blockSizeChars < 1) {
      throw new IllegalArgumentException(
          "blockSizeChars must be >= 1 (got " + blockSizeChars + ")");
    }
    this.blockSizeChars = blockSizeChars;
  }

  public int blockSizeChars() {
    return blockSizeChars;
  }

  /**
   * The seed of a chain: the parent hash of block 0. Requests for different models, LoRA adapters
   * or cache salts get unrelated chains, so they never match each other's blocks. Each argument may
   * be null; null, the empty string and any non-empty string are all distinct, and the fields are
   * length-prefixed so that no two argument triples hash the same text.
   */
  public static long seed(String model, String adapter, String cacheSalt) {
    Builder b = new Builder(Integer.MAX_VALUE, 0L, 0);
    seedField(b, model);
    seedField(b, adapter);
    seedField(b, cacheSalt);
    return b.digestPartial();
  }

  private static void seedField(Builder b, String s) {
    if (s == null) {
      b.append((char) 0xFFFF).append((char) 0xFFFF);
      return;
    }
    b.append((char) (s.length() >>> 16)).append((char) s.length());
    b.append(s);
  }

  /** Starts a chain. */
  public Builder start(long seed) {
    return new Builder(blockSizeChars, seed, INITIAL_BLOCKS);
  }

  /**
   * Starts a chain, pre-sizing the hash array for a prompt of about {@code expectedChars}
   * characters (a hint; any length works).
   */
  public Builder start(long seed, long expectedChars) {
    // Exact for a prompt of exactly expectedChars, so finish() hands over the array uncopied.
    long blocks = Math.max(1, Math.min(expectedChars / blockSizeChars, 1 << 24));
    return new Builder(blockSizeChars, seed, (int) blocks);
  }

  /** Hashes one whole prompt: {@code start(seed).append(prompt).finish()}. */
  public BlockChain hash(long seed, CharSequence prompt) {
    return start(seed, prompt.length()).append(prompt).finish();
  }

  /**
   * Appends characters of one prompt and hashes each block as soon as it is full. Not thread-safe;
   * single use: after {@link #finish()} every method throws {@link IllegalStateException}.
   */
  public static final class Builder {

    private final int blockSize;
    private long[] hashes;
    private int blocks;
    private long totalChars;
    private boolean finished;

    // XXH64 state of the current block.
    private long blockSeed;
    private long v1;
    private long v2;
    private long v3;
    private long v4;
    private int charsInBlock;
    private boolean stripesSeen;
    // Up to 3 full words of the current stripe, then the word being filled (0..3 chars).
    private long w0;
    private long w1;
    private long w2;
    private int wordsInStripe;
    private long word;
    private int charsInWord;

    Builder(int blockSize, long seed, int initialBlocks) {
      this.blockSize = blockSize;
      this.hashes = new long[initialBlocks];
      resetBlock(seed);
    }

    /** Appends all of {@code s}. */
    public Builder append(CharSequence s) {
      return append(s, 0, s.length());
    }

    /**
     * Appends {@code s.subSequence(from, to)} without creating it.
     *
     * @throws IndexOutOfBoundsException unless {@code 0 <= from <= to <= s.length()}
     */
    public Builder append(CharSequence s, int from, int to) {
      checkOpen();
      if (from < 0 || to < from || to > s.length()) {
        throw new IndexOutOfBoundsException(
            "range [" + from + ", " + to + ") out of bounds for length " + s.length());
      }
      totalChars += to - from;
      int i = from;
      while (i < to) {
        if (charsInWord == 0 && wordsInStripe == 0) {
          int stripes = Math.min(to - i, blockSize - charsInBlock) >>> 4;
          if (stripes > 0) {
            i = stripes(s, i, stripes);
            if (charsInBlock == blockSize) endBlock();
            continue;
          }
        }
        push(s.charAt(i++));
      }
      return this;
    }

    /** Appends one character. */
    public Builder append(char c) {
      checkOpen();
      totalChars++;
      push(c);
      return this;
    }

    /** Characters appended so far. */
    public long totalChars() {
      return totalChars;
    }

    /** Full blocks hashed so far. */
    public int blocks() {
      return blocks;
    }

    /** The chain of all full blocks appended; the builder is done afterwards. */
    public BlockChain finish() {
      checkOpen();
      finished = true;
      long[] out = blocks == hashes.length ? hashes : Arrays.copyOf(hashes, blocks);
      hashes = null;
      return new BlockChain(out, blockSize, totalChars);
    }

    // ---- for SegmentHashCache: replaying a remembered segment instead of hashing it ----

    /** The hashing state between two characters (everything but the finished hashes). */
    record State(
        long blockSeed,
        long v1,
        long v2,
        long v3,
        long v4,
        int charsInBlock,
        boolean stripesSeen,
        long w0,
        long w1,
        long w2,
        int wordsInStripe,
        long word,
        int charsInWord) {

      /** A cheap 64-bit digest, for cache keys (equality is checked on the record). */
      long digest() {
        long h = blockSeed * P1 ^ v1;
        h = h * P2 ^ v2;
        h = h * P1 ^ v3;
        h = h * P2 ^ v4;
        h = h * P1 ^ (w0 + w1 * 31 + w2 * 961 + word * 29791);
        return avalanche(
            h
                ^ ((long) charsInBlock << 20
                    | (long) wordsInStripe << 12
                    | (long) charsInWord << 4
                    | (stripesSeen ? 1 : 0)));
      }
    }

    State state() {
      checkOpen();
      return new State(
          blockSeed,
          v1,
          v2,
          v3,
          v4,
          charsInBlock,
          stripesSeen,
          w0,
          w1,
          w2,
          wordsInStripe,
          word,
          charsInWord);
    }

    /** The hashes of blocks {@code from} and later, finished so far. */
    long[] hashesFrom(int from) {
      checkOpen();
      return Arrays.copyOfRange(hashes, from, blocks);
    }

    /**
     * Continues as if {@code chars} characters had been appended that finished the blocks {@code
     * finished} and left the state {@code after}: the caller guarantees that those characters,
     * appended from this builder's current state, do exactly that.
     */
    void skip(long chars, long[] finished, State after) {
      checkOpen();
      if (blocks + finished.length > hashes.length) {
        hashes = Arrays.copyOf(hashes, Math.max(blocks + finished.length, blocks * 2));
      }
      System.arraycopy(finished, 0, hashes, blocks, finished.length);
      blocks += finished.length;
      totalChars += chars;
      blockSeed = after.blockSeed();
      v1 = after.v1();
      v2 = after.v2();
      v3 = after.v3();
      v4 = after.v4();
      charsInBlock = after.charsInBlock();
      stripesSeen = after.stripesSeen();
      w0 = after.w0();
      w1 = after.w1();
      w2 = after.w2();
      wordsInStripe = after.wordsInStripe();
      word = after.word();
      charsInWord = after.charsInWord();
    }

    private void checkOpen() {
      if (finished) throw new IllegalStateException("builder already finished");
    }

    private int stripes(CharSequence s, int i, int stripes) {
      long a = v1;
      long b = v2;
      long c = v3;
      long d = v4;
      for (int n = 0; n < stripes; n++, i += 16) {
        a = round(a, word(s, i));
        b = round(b, word(s, i + 4));
        c = round(c, word(s, i + 8));
        d = round(d, word(s, i + 12));
      }
      v1 = a;
      v2 = b;
      v3 = c;
      v4 = d;
      stripesSeen = true;
      charsInBlock += stripes << 4;
      return i;
    }

    private static long word(CharSequence s, int i) {
      return (long) s.charAt(i)
          | (long) s.charAt(i + 1) << 16
          | (long) s.charAt(i + 2) << 32
          | (long) s.charAt(i + 3) << 48;
    }

    private void push(char c) {
      word |= (long) c << (charsInWord << 4);
      charsInBlock++;
      if (++charsInWord == 4) {
        switch (wordsInStripe) {
          case 0 -> w0 = word;
          case 1 -> w1 = word;
          case 2 -> w2 = word;
          default -> {
            v1 = round(v1, w0);
            v2 = round(v2, w1);
            v3 = round(v3, w2);
            v4 = round(v4, word);
            stripesSeen = true;
          }
        }
        wordsInStripe = (wordsInStripe + 1) & 3;
        word = 0;
        charsInWord = 0;
      }
      if (charsInBlock == blockSize) endBlock();
    }

    private void endBlock() {
      long h = digestPartial();
      if (blocks == hashes.length) {
        hashes = Arrays.copyOf(hashes, Math.max(INITIAL_BLOCKS, blocks * 2));
      }
      hashes[blocks++] = h;
      resetBlock(h);
    }

    private void resetBlock(long seed) {
      blockSeed = seed;
      v1 = seed + P1 + P2;
      v2 = seed + P2;
      v3 = seed;
      v4 = seed - P1;
      charsInBlock = 0;
      stripesSeen = false;
      wordsInStripe = 0;
      word = 0;
      charsInWord = 0;
    }

    /** XXH64 finalization of the current block's bytes, without changing the state. */
    long digestPartial() {
      long h;
      if (stripesSeen) {
        h =
            Long.rotateLeft(v1, 1)
                + Long.rotateLeft(v2, 7)
                + Long.rotateLeft(v3, 12)
                + Long.rotateLeft(v4, 18);
        h = merge(h, v1);
        h = merge(h, v2);
        h = merge(h, v3);
        h = merge(h, v4);
      } else {
        h = blockSeed + P5;
      }
      h += (long) charsInBlock << 1;
      if (wordsInStripe > 0) h = tailWord(h, w0);
      if (wordsInStripe > 1) h = tailWord(h, w1);
      if (wordsInStripe > 2) h = tailWord(h, w2);
      int bytes = charsInWord << 1;
      long rest = word;
      if (bytes >= 4) {
        h ^= (rest & 0xFFFFFFFFL) * P1;
        h = Long.rotateLeft(h, 23) * P2 + P3;
        rest >>>= 32;
        bytes -= 4;
      }
      for (; bytes > 0; bytes--, rest >>>= 8) {
        h ^= (rest & 0xFF) * P5;
        h = Long.rotateLeft(h, 11) * P1;
      }
      return avalanche(h);
    }

    private static long tailWord(long h, long w) {
      h ^= round(0, w);
      return Long.rotateLeft(h, 27) * P1 + P4;
    }
  }

  static long round(long acc, long input) {
    acc += input * P2;
    acc = Long.rotateLeft(acc, 31);
    return acc * P1;
  }

  static long merge(long h, long v) {
    h ^= round(0, v);
    return h * P1 + P4;
  }

  static long avalanche(long h) {
    h ^= h >>> 33;
    h *= P2;
    h ^= h >>> 29;
    h *= P3;
    h ^= h >>> 32;
    return h;
  }
}
