package io.kvgate.gateway.proxy;

import java.util.ArrayList;

/**
 * The timeouts of the exchanges on one event loop, checked by one periodic sweep instead of a timer
 * scheduled and cancelled for each of them: arming or cancelling one is a field write and a list
 * append, not a map entry and a task in the loop's scheduled queue. A deadline fires up to one
 * sweep period late. Confined to its event loop, like the exchanges that use it.
 */
final class Deadlines {

  /** One armed deadline; {@link #cancel} is idempotent. */
  static final class Handle {
    private long at;
    private final long periodNanos;
    private Runnable task;

    private Handle(long at, long periodNanos, Runnable task) {
      this.at = at;
      this.periodNanos = periodNanos;
      this.task = task;
    }

    void cancel() {
      task = null;
    }
  }

  private final ArrayList<Handle> armed = new ArrayList<>();

  /** Runs {@code task} once, {@code delayNanos} from now (or up to one sweep later). */
  Handle after(long delayNanos, Runnable task) {
    Handle h = new Handle(System.nanoTime() + delayNanos, 0, task);
    armed.add(h);
    return h;
  }

  /** Runs {@code task} every {@code periodNanos} (at least 1) until cancelled. */
  Handle every(long periodNanos, Runnable task) {
    if (periodNanos < 1) throw new IllegalArgumentException("period must be at least 1 ns");
    Handle h = new Handle(System.nanoTime() + periodNanos, periodNanos, task);
    armed.add(h);
    return h;
  }

  /** Armed and not cancelled. */
  int size() {
    int n = 0;
    for (Handle h : armed) if (h.task != null) n++;
    return n;
  }

  /** Runs what is due and forgets what ran or was cancelled; deadlines armed meanwhile are kept. */
  void sweep() {
    long now = System.nanoTime();
    int n = armed.size();
    for (int i = 0; i < n; i++) {
      Handle h = armed.get(i);
      Runnable task = h.task;
      if (task == null || now - h.at < 0) continue;
      if (h.periodNanos > 0) h.at = now + h.periodNanos;
      else h.task = null;
      task.run();
    }
    int kept = 0;
    for (int i = 0; i < armed.size(); i++) {
      Handle h = armed.get(i);
      if (h.task != null) armed.set(kept++, h);
    }
    for (int i = armed.size() - 1; i >= kept; i--) armed.remove(i);
  }
}
