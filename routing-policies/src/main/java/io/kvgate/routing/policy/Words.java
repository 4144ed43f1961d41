package io.kvgate.routing.policy;

import java.util.List;
import java.util.Locale;

/** Number and list formatting for the reasons explanations give (admin output, not logs). */
final class Words {

  private Words() {}

  /** A number as a person reads it: integers above 100, else at most three significant places. */
  static String num(double v) {
    if (Double.isNaN(v) || Double.isInfinite(v)) return String.valueOf(v);
    double a = Math.abs(v);
    if (a >= 100 || v == Math.rint(v)) return Long.toString(Math.round(v));
    String s = String.format(Locale.ROOT, a >= 1 ? "%.2f" : "%.3f", v);
    s = s.replaceAll("0+$", "");
    return s.endsWith(".") ? s.substring(0, s.length() - 1) : s;
  }

  /** {@code 1 candidate}, {@code 2 candidates}. */
  static String count(int n, String noun) {
    return n + " " + noun + (n == 1 ? "" : "s");
  }

  /** Comma-separated. */
  static String list(List<String> items) {
    return String.join(", ", items);
  }
}
