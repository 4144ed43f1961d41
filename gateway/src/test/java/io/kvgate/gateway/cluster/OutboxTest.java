package io.kvgate.gateway.cluster;

import static org.junit.jupiter.api.Assertions.*;

import io.kvgate.routing.prefix.BlockChain;
import io.kvgate.routing.prefix.IndexJournal;
import org.junit.jupiter.api.Test;

/** The outbox's bounds: past them writes are dropped, counted and flagged for the next batch. */
class OutboxTest {

  @Test
  void queuedHashesAreBoundedAndDrainingFreesRoom() {
    Outbox out = new Outbox();
    IndexJournal j = out.journal(new int[] {0});
    long[] hashes = new long[1 << 20];
    BlockChain chain = new BlockChain(hashes, 1, hashes.length);
    int fit = (int) (Outbox.MAX_HASHES / hashes.length);
    for (int i = 0; i < fit; i++) j.routed(0, chain);
    assertEquals(fit, out.size());
    assertFalse(out.takeLost());
    j.routed(0, chain); // one chain too many
    assertEquals(fit, out.size());
    assertEquals(1, out.dropped());
    assertTrue(out.takeLost(), "the next batch tells peers to resync");
    assertFalse(out.takeLost(), "the flag is taken once");
    assertNotNull(out.poll());
    j.routed(0, chain); // room again
    assertEquals(fit, out.size());
    assertEquals(1, out.dropped());
    j.removed(0, new long[] {1, 2, 3}); // a small write still fits in neither bound now
    assertEquals(2, out.dropped());
    while (out.poll() != null) {
      // drain
    }
    assertEquals(0, out.size());
    j.removed(0, new long[] {1, 2, 3});
    assertEquals(1, out.size());
  }
}
