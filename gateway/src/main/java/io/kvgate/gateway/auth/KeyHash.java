package io.kvgate.gateway.auth;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.SecureRandom;
import java.util.HexFormat;

/**
 * A salted SHA-256 hash of an API key, written {@code sha256:<salt hex>:<digest hex>} where digest
 * = SHA-256(salt || key). The configuration holds only these, never a key; {@code kvgate hash-key}
 * makes one.
 *
 * <p>A fast hash is the right one here: API keys are long random strings (no dictionary to guess
 * from), and a request is checked against them on the request path. The salt keeps equal keys from
 * having equal hashes and rules out precomputed tables.
 */
public final class KeyHash {

  private static final String PREFIX = "sha256:";
  private static final HexFormat HEX = HexFormat.of();
  private static final SecureRandom RANDOM = new SecureRandom();

  private final byte[] salt;
  private final byte[] digest;

  private KeyHash(byte[] salt, byte[] digest) {
    this.salt = salt;
    this.digest = digest;
  }

  /** Hashes {@code key} with a fresh 16-byte random salt. */
  public static KeyHash of(String key) {
    byte[] salt = new byte[16];
    RANDOM.nextBytes(salt);
    return new KeyHash(salt, digest(salt, key));
  }

  /**
   * Reads {@code sha256:<salt hex>:<digest hex>}.
   *
   * @throws IllegalArgumentException naming what is wrong (never echoing the text)
   */
  public static KeyHash parse(String text) {
    if (text == null || !text.startsWith(PREFIX)) {
      throw new IllegalArgumentException(
          "must be 'sha256:<salt hex>:<digest hex>' (make one with `kvgate hash-key`)");
    }
    String[] parts = text.substring(PREFIX.length()).split(":", -1);
    if (parts.length != 2) {
      throw new IllegalArgumentException("must be 'sha256:<salt hex>:<digest hex>'");
    }
    byte[] salt;
    byte[] digest;
    try {
      salt = HEX.parseHex(parts[0]);
      digest = HEX.parseHex(parts[1]);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("salt and digest must be hexadecimal");
    }
    if (salt.length < 8) throw new IllegalArgumentException("salt must be at least 8 bytes");
    if (digest.length != 32) throw new IllegalArgumentException("digest must be 32 bytes");
    return new KeyHash(salt, digest);
  }

  /** Whether {@code key} hashes to this (constant time in the digest comparison). */
  public boolean matches(String key) {
    return MessageDigest.isEqual(digest, digest(salt, key));
  }

  private static byte[] digest(byte[] salt, String key) {
    try {
      MessageDigest sha = MessageDigest.getInstance("SHA-256");
      sha.update(salt);
      return sha.digest(key.getBytes(StandardCharsets.UTF_8));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("SHA-256 is missing from this JVM", e);
    }
  }

  /** The {@code sha256:<salt>:<digest>} form (a hash, safe to print). */
  @Override
  public String toString() {
    return PREFIX + HEX.formatHex(salt) + ":" + HEX.formatHex(digest);
  }
}
