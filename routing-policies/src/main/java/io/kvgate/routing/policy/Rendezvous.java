package io.kvgate.routing.policy;

import io.kvgate.routing.EndpointState;
import java.util.List;

/**
 * Rendezvous (highest random weight) hashing: a key's rank of endpoints is the order of {@code
 * mix(hash(key), hash(endpoint id))}, so removing an endpoint moves only its own keys.
 */
final class Rendezvous {

  private Rendezvous() {}

  static long mix(long x) {
    x ^= x >>> 33;
    x *= 0xff51afd7ed558ccdL;
    x ^= x >>> 33;
    x *= 0xc4ceb9fe1a85ec53L;
    return x ^ (x >>> 33);
  }

  static long weight(long keyHash, EndpointState e) {
    return mix(keyHash ^ mix(e.id().hashCode() * 0x9E3779B97F4A7C15L));
  }

  static long hash(String key) {
    long h = 1125899906842597L;
    for (int i = 0; i < key.length(); i++) h = 31 * h + key.charAt(i);
    return mix(h);
  }

  /** Index of the key's first-choice endpoint. */
  static int best(String key, List<EndpointState> endpoints) {
    long k = hash(key);
    int best = 0;
    long bestW = Long.MIN_VALUE;
    for (int i = 0; i < endpoints.size(); i++) {
      long w = weight(k, endpoints.get(i));
      if (w > bestW) {
        bestW = w;
        best = i;
      }
    }
    return best;
  }
}
