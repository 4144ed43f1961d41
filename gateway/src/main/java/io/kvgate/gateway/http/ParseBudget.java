package io.kvgate.gateway.http;

import io.kvgate.gateway.openai.OpenAiException;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.internal.ContextInternal;
import io.vertx.core.internal.PromiseInternal;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.LongAdder;

/**
 * The gateway-wide budget of body bytes being parsed and keyed on worker threads at once ({@code
 * limits.parseBudgetBytes}), so that a burst of large bodies costs a bounded amount of heap and CPU
 * instead of all parsing together. A body that does not fit waits in a FIFO queue, at most {@code
 * limits.parseQueueTimeout}, then is refused with 503 {@code server_busy}. A body larger than the
 * whole budget is charged the whole budget: it waits until it can run alone.
 *
 * <p>Only bodies parsed on a worker thread (at least {@code limits.offloadBodyBytes}) take from the
 * budget. Smaller bodies are parsed on their event loop, synchronously, so at most one of them per
 * event loop is being parsed at any instant: their total is bounded by construction (event loops
 * times the offload threshold), and they never queue behind large ones. Strict FIFO among the large
 * ones keeps a large body from being starved by a stream of smaller ones.
 *
 * <p>Thread-safe: acquired on event loops, released on worker threads. Waiters are resumed on the
 * context that asked.
 */
public final class ParseBudget {

  /** A share of the budget, to be released exactly once. */
  public final class Permit {
    private final long bytes;
    private final AtomicBoolean released = new AtomicBoolean();

    private Permit(long bytes) {
      this.bytes = bytes;
    }

    public void release() {
      if (released.compareAndSet(false, true)) ParseBudget.this.release(bytes);
    }
  }

  private static final class Waiter {
    final long bytes;
    final PromiseInternal<Permit> promise;
    long timer = -1;

    Waiter(long bytes, PromiseInternal<Permit> promise) {
      this.bytes = bytes;
      this.promise = promise;
    }
  }

  private final Vertx vertx;
  private final long capacity;
  private final Duration queueTimeout;
  private final ArrayDeque<Waiter> queue = new ArrayDeque<>();
  private final LongAdder timedOut = new LongAdder();
  private long inUse;

  public ParseBudget(Vertx vertx, long capacityBytes, Duration queueTimeout) {
    if (capacityBytes < 1) throw new IllegalArgumentException("capacity must be positive");
    this.vertx = vertx;
    this.capacity = capacityBytes;
    this.queueTimeout = queueTimeout;
  }

  /**
   * A permit for {@code bytes} (at most the whole budget): at once if they fit and nobody waits,
   * else when the requests ahead have released enough; fails with 503 {@code server_busy} after the
   * queue timeout.
   */
  public Future<Permit> acquire(long bytes) {
    long n = Math.max(0, Math.min(bytes, capacity));
    ContextInternal ctx = (ContextInternal) vertx.getOrCreateContext();
    Waiter w;
    synchronized (this) {
      if (queue.isEmpty() && inUse + n <= capacity) {
        inUse += n;
        return Future.succeededFuture(new Permit(n));
      }
      w = new Waiter(n, ctx.promise());
      queue.addLast(w);
    }
    long timer = vertx.setTimer(Math.max(1, queueTimeout.toMillis()), t -> expire(w));
    synchronized (this) {
      w.timer = timer;
      if (!queue.contains(w)) vertx.cancelTimer(timer); // granted meanwhile
    }
    return w.promise.future();
  }

  private void expire(Waiter w) {
    List<Waiter> granted;
    synchronized (this) {
      if (!queue.remove(w)) return;
      // The head leaving may let those behind it in.
      granted = grantable();
    }
    timedOut.increment();
    w.promise.tryFail(busy());
    complete(granted);
  }

  private void release(long bytes) {
    List<Waiter> granted;
    synchronized (this) {
      inUse -= bytes;
      granted = grantable();
    }
    complete(granted);
  }

  /** Removes and charges the waiters at the head that now fit. Holding the lock. */
  private List<Waiter> grantable() {
    List<Waiter> granted = List.of();
    while (!queue.isEmpty() && inUse + queue.peekFirst().bytes <= capacity) {
      Waiter w = queue.pollFirst();
      inUse += w.bytes;
      if (granted.isEmpty()) granted = new ArrayList<>(2);
      granted.add(w);
      if (w.timer >= 0) vertx.cancelTimer(w.timer);
    }
    return granted;
  }

  private void complete(List<Waiter> granted) {
    for (Waiter w : granted) {
      if (!w.promise.tryComplete(new Permit(w.bytes))) release(w.bytes);
    }
  }

  private OpenAiException busy() {
    return new OpenAiException(
        503,
        "server_error",
        null,
        "server_busy",
        "the gateway is parsing as many request bytes as limits.parseBudgetBytes allows ("
            + capacity
            + ") and this request waited "
            + io.kvgate.routing.config.ConfigNode.formatDuration(queueTimeout)
            + " for its turn; retry later");
  }

  /** The seconds a refused client is told to wait ({@code Retry-After}). */
  public long retryAfterSeconds() {
    return Math.max(1, (queueTimeout.toMillis() + 999) / 1000);
  }

  public long capacityBytes() {
    return capacity;
  }

  public synchronized long inUseBytes() {
    return inUse;
  }

  public synchronized int waiting() {
    return queue.size();
  }

  /** Requests refused after waiting the whole queue timeout. */
  public long timedOut() {
    return timedOut.sum();
  }
}
