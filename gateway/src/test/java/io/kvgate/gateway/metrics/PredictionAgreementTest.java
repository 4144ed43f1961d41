package io.kvgate.gateway.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.kvgate.gateway.metrics.PredictionAgreement.Transition;
import org.junit.jupiter.api.Test;

class PredictionAgreementTest {

  private static final long SECOND = 1_000_000_000L;

  @Test
  void agreeingPredictionsNeverCollapse() {
    PredictionAgreement a = new PredictionAgreement();
    for (int i = 0; i < 1_000; i++)
      assertEquals(Transition.NONE, a.record(4_000, 3_800 + i % 400, i * SECOND / 10));
    assertTrue(a.agreement() > 0.9, "agreement " + a.agreement());
    assertFalse(a.collapsed());
  }

  @Test
  void silentZeroOverlapCollapsesOnceAndRecoversOnce() {
    PredictionAgreement a = new PredictionAgreement();
    long t = 0;
    int collapses = 0;
    // The router predicts hits the engines never report (keys differ from the engines' blocks).
    for (int i = 0; i < 200; i++, t += SECOND / 10)
      if (a.record(4_000, 0, t) == Transition.COLLAPSED) collapses++;
    assertEquals(1, collapses, "logged once, not per request");
    assertTrue(a.collapsed());
    assertEquals(0, a.agreement(), 1e-9);
    // Fixed: the two agree again; the old disagreement decays away (60 s half-life).
    int recoveries = 0;
    for (int i = 0; i < 3_000; i++, t += SECOND / 10)
      if (a.record(4_000, 4_000, t) == Transition.RECOVERED) recoveries++;
    assertEquals(1, recoveries);
    assertFalse(a.collapsed());
  }

  @Test
  void engineHitsKvgateDoesNotPredictAlsoCollapse() {
    PredictionAgreement a = new PredictionAgreement();
    Transition last = Transition.NONE;
    for (int i = 0; i < 50 && last == Transition.NONE; i++) last = a.record(0, 5_000, i * SECOND);
    assertEquals(Transition.COLLAPSED, last);
  }

  @Test
  void aFewRequestsAreNotEnoughToJudge() {
    PredictionAgreement a = new PredictionAgreement();
    for (int i = 0; i < 10; i++) assertEquals(Transition.NONE, a.record(4_000, 0, i * SECOND));
    assertFalse(a.collapsed(), "40,000 tokens are below the 50,000-token minimum");
  }
}
