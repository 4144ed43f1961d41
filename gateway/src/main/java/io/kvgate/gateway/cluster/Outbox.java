package io.kvgate.gateway.cluster;

import io.kvgate.routing.prefix.BlockChain;
import io.kvgate.routing.prefix.IndexJournal;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The index writes of this gateway not yet shipped to its peers: one {@link IndexJournal} per
 * model, all feeding one lock-free queue that {@link ClusterNode} drains every publish interval.
 * Writers (event loops, the KV-event ingest) only enqueue. Bounded: past {@link #MAX_OPS} queued
 * writes or {@link #MAX_HASHES} queued hashes new ones are dropped and the next batch says so, and
 * peers resync from this gateway.
 */
final class Outbox {

  /** Queued writes beyond which writes are dropped (peers then ask for a snapshot). */
  static final int MAX_OPS = 1_000_000;

  /**
   * Queued block hashes beyond which writes are dropped: 128 MiB of hashes, whatever the writes'
   * sizes (a routed 32k-token prompt alone holds 2,048).
   */
  static final long MAX_HASHES = 16L << 20;

  /** One index write. {@code target} is the (model, endpoint) index of {@link ClusterNode}. */
  record Op(
      long nanos,
      int target,
      byte kind,
      BlockChain chain,
      long[] hashes,
      long[] parents,
      long parent,
      boolean flag) {}

  private final ConcurrentLinkedQueue<Op> queue = new ConcurrentLinkedQueue<>();
  private final AtomicInteger size = new AtomicInteger();
  private final AtomicBoolean lost = new AtomicBoolean();
  private final java.util.concurrent.atomic.AtomicLong dropped =
      new java.util.concurrent.atomic.AtomicLong();

  /** The journal of one model: {@code targetOfSlot[slot]} is the endpoint's target index. */
  IndexJournal journal(int[] targetOfSlot) {
    return new IndexJournal() {
      @Override
      public void routed(int slot, BlockChain chain) {
        add(
            new Op(
                System.nanoTime(),
                targetOfSlot[slot],
                Wire.OP_ROUTED,
                chain,
                null,
                null,
                0,
                false));
      }

      @Override
      public void stored(int slot, long[] hashes, long parentHash, boolean hasParent) {
        add(
            new Op(
                System.nanoTime(),
                targetOfSlot[slot],
                Wire.OP_STORED,
                null,
                hashes,
                null,
                parentHash,
                hasParent));
      }

      @Override
      public void snapshotStored(int slot, long[] hashes, long[] parents) {
        add(
            new Op(
                System.nanoTime(),
                targetOfSlot[slot],
                Wire.OP_HELD,
                null,
                hashes,
                parents,
                0,
                false));
      }

      @Override
      public void removed(int slot, long[] hashes) {
        add(
            new Op(
                System.nanoTime(),
                targetOfSlot[slot],
                Wire.OP_REMOVED,
                null,
                hashes,
                null,
                0,
                false));
      }

      @Override
      public void cleared(int slot) {
        add(
            new Op(
                System.nanoTime(),
                targetOfSlot[slot],
                Wire.OP_CLEARED,
                null,
                null,
                null,
                0,
                false));
      }

      @Override
      public void expires(int slot, boolean expires) {
        add(
            new Op(
                System.nanoTime(),
                targetOfSlot[slot],
                Wire.OP_EXPIRES,
                null,
                null,
                null,
                0,
                expires));
      }
    };
  }

  private final java.util.concurrent.atomic.AtomicLong hashes =
      new java.util.concurrent.atomic.AtomicLong();

  private static long weight(Op op) {
    if (op.chain() != null) return op.chain().length();
    if (op.hashes() == null) return 0;
    return op.hashes().length * (op.parents() != null ? 2L : 1L);
  }

  private void add(Op op) {
    long w = weight(op);
    int n = size.incrementAndGet();
    long h = hashes.addAndGet(w);
    if (n > MAX_OPS || h > MAX_HASHES) {
      size.decrementAndGet();
      hashes.addAndGet(-w);
      lost.set(true);
      dropped.incrementAndGet();
      return;
    }
    queue.add(op);
  }

  /** The next queued write, or null. */
  Op poll() {
    Op op = queue.poll();
    if (op != null) {
      size.decrementAndGet();
      hashes.addAndGet(-weight(op));
    }
    return op;
  }

  /** Whether writes were dropped since the last call (and clears the flag). */
  boolean takeLost() {
    return lost.getAndSet(false);
  }

  int size() {
    return size.get();
  }

  long dropped() {
    return dropped.get();
  }
}
