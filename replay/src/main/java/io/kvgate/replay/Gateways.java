package io.kvgate.replay;

/**
 * How many gateways a replay cell runs over the same engines, and whether they share their routing
 * state through kvgate's cluster ({@code --gateways}): {@code 1}, {@code N} (N independent
 * gateways, e.g. {@code 3}) or {@code Nc} (N gateways in one cluster, e.g. {@code 3c}). With more
 * than one, request {@code i} of the trace goes to gateway {@code i mod N}, so consecutive turns of
 * a conversation land on different gateways, as behind a round-robin load balancer.
 *
 * @param count gateways, 1 to {@link #MAX}
 * @param clustered whether they form one cluster (needs {@code count >= 2})
 */
public record Gateways(int count, boolean clustered) {

  /** The most gateways of one cell. */
  public static final int MAX = 16;

  /** One gateway: the replay's default. */
  public static final Gateways ONE = new Gateways(1, false);

  public Gateways {
    if (count < 1 || count > MAX)
      throw new IllegalArgumentException("gateways must be 1.." + MAX + " (got " + count + ")");
    if (clustered && count < 2)
      throw new IllegalArgumentException("a cluster needs 2 or more gateways (got 1c)");
  }

  /** The flag form: {@code 1}, {@code 3}, {@code 3c}. */
  public String label() {
    return count + (clustered ? "c" : "");
  }

  /** Parses {@code N} or {@code Nc}. */
  public static Gateways parse(String s) {
    String t = s == null ? "" : s.trim();
    boolean c = t.endsWith("c");
    String digits = c ? t.substring(0, t.length() - 1) : t;
    if (!digits.matches("\\d{1,3}"))
      throw new IllegalArgumentException(
          "gateways must be N (independent) or Nc (clustered), e.g. 1, 3 or 3c (got '" + s + "')");
    return new Gateways(Integer.parseInt(digits), c);
  }

  @Override
  public String toString() {
    return label();
  }
}
