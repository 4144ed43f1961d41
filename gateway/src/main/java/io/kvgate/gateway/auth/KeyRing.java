package io.kvgate.gateway.auth;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The configured client keys, and the check of a presented one.
 *
 * <p>Each key is stored as a salted hash, so a presented key is hashed with every configured salt
 * until one matches: a few microseconds per configured key. A key that matched is remembered, under
 * an unsalted SHA-256 of it held only in memory, so the scan runs once per distinct key (the memory
 * is bounded: it is emptied when it reaches {@link #REMEMBERED} entries). A key that matches
 * nothing is not remembered: a client guessing keys pays the scan each time, as it should.
 */
public final class KeyRing {

  static final int REMEMBERED = 10_000;

  private final List<ApiKey> keys;
  private final Map<String, ApiKey> matched = new ConcurrentHashMap<>();

  public KeyRing(List<ApiKey> keys) {
    this.keys = List.copyOf(keys);
  }

  /** Whether any key is configured: auth is on. */
  public boolean enabled() {
    return !keys.isEmpty();
  }

  public List<ApiKey> keys() {
    return keys;
  }

  /** Whether some key may use the admin operations. */
  public boolean hasAdminKey() {
    return keys.stream().anyMatch(ApiKey::admin);
  }

  /** The key {@code presented} is, or null. */
  public ApiKey match(String presented) {
    if (presented == null || presented.isEmpty()) return null;
    String id = fingerprint(presented);
    ApiKey known = matched.get(id);
    if (known != null) return known;
    for (ApiKey k : keys) {
      if (k.hash().matches(presented)) {
        if (matched.size() >= REMEMBERED) matched.clear();
        matched.put(id, k);
        return k;
      }
    }
    return null;
  }

  /** Whether some key may publish KV events ({@code admin: true} or {@code kvEvents: true}). */
  public boolean hasKvEventsKey() {
    return keys.stream().anyMatch(k -> k.admin() || k.kvEvents());
  }

  /** Whether an {@code Authorization} value carries a key that may publish KV events. */
  public boolean mayPublishKvEvents(String authorization) {
    ApiKey key = match(bearer(authorization));
    return key != null && (key.admin() || key.kvEvents());
  }

  /** Whether an {@code Authorization} header value carries a key with {@code admin: true}. */
  public boolean isAdmin(String authorization) {
    ApiKey key = match(bearer(authorization));
    return key != null && key.admin();
  }

  /**
   * The key of an {@code Authorization} header value ({@code Bearer <key>}, the scheme
   * case-insensitive), or null when it is absent or another scheme.
   */
  public static String bearer(String authorization) {
    if (authorization == null) return null;
    String v = authorization.trim();
    if (v.length() < 7 || !v.regionMatches(true, 0, "Bearer ", 0, 7)) return null;
    String key = v.substring(7).trim();
    return key.isEmpty() ? null : key;
  }

  private static String fingerprint(String key) {
    try {
      return HexFormat.of()
          .formatHex(
              MessageDigest.getInstance("SHA-256").digest(key.getBytes(StandardCharsets.UTF_8)));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }
}
