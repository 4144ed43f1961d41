package io.kvgate.gateway.health;

import static org.junit.jupiter.api.Assertions.*;

import io.kvgate.gateway.health.KvCapacityEstimator.Observation;
import io.kvgate.gateway.health.KvCapacityEstimator.Verdict;
import java.util.OptionalLong;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class KvCapacityEstimatorTest {

  /** A clean gateway-counted sample: counters steady, engine runs exactly kvgate's requests. */
  private static Observation sample(long activeTokens, int inFlight, double usage) {
    return new Observation(activeTokens, activeTokens, inFlight, inFlight, usage, inFlight, 0);
  }

  private static void feed(KvCapacityEstimator est, long capacity, double usage, int n) {
    for (int i = 0; i < n; i++) {
      assertEquals(Verdict.ACCEPTED, est.offer(sample(Math.round(capacity * usage), 8, usage)));
    }
  }

  @Test
  void exactRatioIsLearnedAfterMinSamplesAndProposedAgainstTheDefault() {
    KvCapacityEstimator est = new KvCapacityEstimator();
    for (int i = 0; i < 4; i++) {
      est.offer(sample(12_000, 6, 0.25));
      assertEquals(0, est.estimateTokens(), "not before minSamples");
      assertFalse(est.stable());
      assertTrue(est.proposeCapacity(416_000).isEmpty());
    }
    est.offer(sample(12_000, 6, 0.25));
    assertEquals(48_000, est.estimateTokens());
    assertTrue(est.stable());
    assertEquals(OptionalLong.of(48_000), est.proposeCapacity(416_000));
    // proposed once: the same estimate against the capacity now in force is no change
    feed(est, 48_000, 0.25, 10);
    assertTrue(est.proposeCapacity(48_000).isEmpty());
  }

  @Test
  void lowUsageSaturationAndTinyLoadsAreIgnored() {
    KvCapacityEstimator est = new KvCapacityEstimator();
    assertEquals(Verdict.LOW_USAGE, est.offer(sample(400, 1, 0.01)));
    assertEquals(Verdict.LOW_USAGE, est.offer(sample(2_000, 1, 0.049)));
    assertEquals(Verdict.SATURATED, est.offer(sample(47_000, 30, 0.98)));
    assertEquals(Verdict.FEW_TOKENS, est.offer(sample(100, 1, 0.5)));
    assertEquals(Verdict.INVALID, est.offer(sample(5_000, 3, 0)));
    assertEquals(Verdict.INVALID, est.offer(sample(5_000, 3, Double.NaN)));
    assertEquals(Verdict.INVALID, est.offer(sample(5_000, 3, 1.5)));
    assertEquals(0, est.accepted());
    assertEquals(0, est.estimateTokens());
  }

  @Test
  void samplesThatCannotBeMatchedToKvgatesCountersAreIgnored() {
    KvCapacityEstimator est = new KvCapacityEstimator();
    // the engine queues: those requests are counted by kvgate but hold no blocks
    assertEquals(Verdict.ENGINE_QUEUE, est.offer(new Observation(10_000, 10_000, 6, 6, 0.2, 4, 2)));
    // more running than kvgate sent: another client or gateway shares the engine
    assertEquals(Verdict.FOREIGN_LOAD, est.offer(new Observation(10_000, 10_000, 6, 6, 0.4, 9, 0)));
    // fewer running than kvgate has in flight: requests in transit
    assertEquals(Verdict.STALE, est.offer(new Observation(10_000, 10_000, 6, 6, 0.2, 5, 0)));
    // a request started or ended while the scrape was in flight
    assertEquals(Verdict.STALE, est.offer(new Observation(10_000, 11_500, 6, 7, 0.2, 7, 0)));
    assertEquals(Verdict.STALE, est.offer(new Observation(10_000, 12_000, 6, 6, 0.2, 6, 0)));
    // a small drift of the counters is tolerated and averaged
    assertEquals(Verdict.ACCEPTED, est.offer(new Observation(10_000, 10_100, 6, 6, 0.2, 6, 0)));
    // with many requests in flight, a mismatch of 5% is tolerated
    assertEquals(Verdict.ACCEPTED, est.offer(new Observation(40_000, 40_000, 40, 40, 0.8, 42, 0)));
    assertEquals(
        Verdict.FOREIGN_LOAD, est.offer(new Observation(40_000, 40_000, 40, 40, 0.8, 43, 0)));
    assertEquals(2, est.accepted());
  }

  @Test
  void noisyUsageConvergesToTheTrueCapacity() {
    long truth = 400_000;
    SplittableRandom rnd = new SplittableRandom(7);
    KvCapacityEstimator est = new KvCapacityEstimator();
    for (int i = 0; i < 60; i++) {
      double usage = 0.1 + 0.7 * rnd.nextDouble();
      long active = Math.round(truth * usage * (1 + 0.1 * (rnd.nextDouble() - 0.5))); // ±5%
      est.offer(sample(active, 12, usage));
    }
    assertTrue(est.stable());
    assertEquals(truth, est.estimateTokens(), truth * 0.03);
  }

  @Test
  void outliersDoNotMoveTheEstimate() {
    long truth = 100_000;
    SplittableRandom rnd = new SplittableRandom(11);
    KvCapacityEstimator est = new KvCapacityEstimator();
    for (int i = 0; i < 60; i++) {
      double usage = 0.3;
      double factor =
          i % 5 == 4 ? (rnd.nextBoolean() ? 3.0 : 0.25) : 1 + 0.04 * (rnd.nextDouble() - 0.5);
      est.offer(sample(Math.round(truth * usage * factor), 10, usage));
    }
    assertTrue(est.stable(), "one sample in five off by 3x or 4x must not make it unstable");
    assertEquals(truth, est.estimateTokens(), truth * 0.03);
  }

  @Test
  void disagreeingSamplesAreNotStableAndNotApplied() {
    KvCapacityEstimator est = new KvCapacityEstimator();
    for (int i = 0; i < 30; i++) {
      long capacity = i % 2 == 0 ? 30_000 : 60_000;
      est.offer(sample(Math.round(capacity * 0.3), 8, 0.3));
    }
    assertFalse(est.stable());
    assertTrue(est.proposeCapacity(416_000).isEmpty());
  }

  @Test
  void smallDifferencesAreNotAppliedLargeOnesAreOnceStable() {
    KvCapacityEstimator est = new KvCapacityEstimator();
    feed(est, 50_000, 0.4, 15);
    // 4% away from what is in force: noise, keep the index as it is
    assertTrue(est.proposeCapacity(48_000).isEmpty());
    assertTrue(est.proposeCapacity(52_000).isEmpty());
    // the engine is restarted with a larger cache: the median follows after half a window
    feed(est, 80_000, 0.4, 7);
    assertEquals(
        50_000, est.estimateTokens(), "a minority of new samples does not move the median");
    assertTrue(est.proposeCapacity(50_000).isEmpty());
    feed(est, 80_000, 0.4, 2);
    assertFalse(est.stable(), "the window is split between old and new: not stable yet");
    feed(est, 80_000, 0.4, 6);
    assertTrue(est.stable());
    assertEquals(OptionalLong.of(80_000), est.proposeCapacity(50_000));
    // right after a proposal, even a different figure waits for minSamples fresh samples
    assertTrue(est.proposeCapacity(40_000).isEmpty());
    feed(est, 80_000, 0.4, 5);
    assertEquals(OptionalLong.of(80_000), est.proposeCapacity(40_000));
  }

  @Test
  void estimateHoveringAroundTheThresholdDoesNotFlipFlop() {
    SplittableRandom rnd = new SplittableRandom(3);
    KvCapacityEstimator est = new KvCapacityEstimator();
    long inForce = 100_000;
    int applied = 0;
    for (int i = 0; i < 400; i++) {
      double usage = 0.2 + 0.5 * rnd.nextDouble();
      double factor = 1.08 + 0.06 * (rnd.nextDouble() - 0.5); // true 8% above, noise ±3%
      est.offer(sample(Math.round(100_000 * factor * usage), 9, usage));
      OptionalLong p = est.proposeCapacity(inForce);
      if (p.isPresent()) {
        inForce = p.getAsLong();
        applied++;
      }
    }
    assertEquals(0, applied, "an estimate within 10% of the capacity in force is never applied");
  }

  @Test
  void engineCountedSamplesAreExactAndSupersedeGatewaySamples() {
    KvCapacityEstimator est = new KvCapacityEstimator();
    feed(est, 30_000, 0.5, 3);
    assertEquals(Verdict.LOW_USAGE, est.offerExact(100, 0.0005));
    for (int i = 0; i < 5; i++) {
      assertEquals(Verdict.ACCEPTED, est.offerExact(123_859, 123_859 / 600_000.0));
    }
    assertTrue(est.exact());
    assertEquals(600_000, est.estimateTokens(), "the gateway-counted samples were dropped");
    assertEquals(Verdict.SUPERSEDED, est.offer(sample(15_000, 4, 0.5)));
    assertEquals(Verdict.INVALID, est.offerExact(-1, 0.3));
    // a usage rounded to two decimals (older SGLang) still lands close
    KvCapacityEstimator rounded = new KvCapacityEstimator();
    for (int used = 100_000; used < 400_000; used += 30_000) {
      rounded.offerExact(used, Math.round(used / 600_000.0 * 100) / 100.0);
    }
    assertEquals(600_000, rounded.estimateTokens(), 600_000 * 0.03);
  }

  @Test
  void ratiosOutsideTheClampBoundsAreRejected() {
    KvCapacityEstimator.Settings s =
        new KvCapacityEstimator.Settings(
            0.05, 0.95, 10, 5, 3, 0.15, 0.10, 1_000, 1_000_000, 0.02, 0.05);
    KvCapacityEstimator est = new KvCapacityEstimator(s);
    assertEquals(Verdict.OUT_OF_RANGE, est.offer(sample(40, 1, 0.1))); // 400 tokens
    assertEquals(Verdict.OUT_OF_RANGE, est.offer(sample(900_000, 1, 0.5))); // 1.8M tokens
    assertEquals(Verdict.ACCEPTED, est.offer(sample(500, 1, 0.1)));
    assertThrows(
        IllegalArgumentException.class,
        () ->
            new KvCapacityEstimator.Settings(
                0.5, 0.4, 10, 5, 3, 0.15, 0.10, 1_000, 1_000_000, 0.02, 0.05));
    assertThrows(
        IllegalArgumentException.class,
        () ->
            new KvCapacityEstimator.Settings(
                0.05, 0.95, 10, 5, 6, 0.15, 0.10, 1_000, 1_000_000, 0.02, 0.05));
  }
}
