package io.kvgate.gateway.index;

import java.util.Locale;

/**
 * What kvgate's prefix index knows about one engine's cache.
 *
 * <ul>
 *   <li>{@link #PRECISE}: the engine's KV-event stream is live and gap-free; the index holds what
 *       the engine reported (plus what kvgate sent it since, which the engine is storing).
 *   <li>{@link #APPROXIMATE}: no stream (never connected, or lost): the index is kvgate's own
 *       model, written from its routing decisions and aged by capacity and TTL.
 *   <li>{@link #STALE}: a restart, cache reset or event gap was detected; the endpoint's entries
 *       were cleared (or are being replaced by a snapshot) and are not rebuilt yet.
 * </ul>
 */
public enum IndexMode {
  PRECISE,
  APPROXIMATE,
  STALE;

  /** The lower-case name used in metric tags and JSON. */
  public String tag() {
    return name().toLowerCase(Locale.ROOT);
  }
}
