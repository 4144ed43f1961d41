package io.kvgate.routing.policy;

import io.kvgate.routing.EndpointState;
import java.util.concurrent.atomic.AtomicLong;

/** The generic picker plugins. The algorithm pickers of peers and ours have their own files. */
final class Pickers {

  private Pickers() {}

  /** {@code max-score-picker}: highest total first, exact ties broken at random. */
  static final class MaxScorePicker implements Picker {
    @Override
    public void pick(Candidates c, double[] totals, int[] order) {
      Order.jitter(totals, c.size(), c.context().random());
      Order.descending(totals, order, c.size());
    }
  }

  /**
   * {@code softmax-picker}: the first choice sampled with probability ∝ exp(total / temperature).
   */
  record SoftmaxPicker(
      @Param(doc = "sampling temperature in score units; 0 = always the best", min = 0, max = 1e9)
          double temperature)
      implements Picker {
    static final SoftmaxPicker DEFAULTS = new SoftmaxPicker(0.05);

    @Override
    public void pick(Candidates c, double[] totals, int[] order) {
      Order.softmax(totals, order, c.size(), temperature, c.context().random());
    }
  }

  /**
   * {@code round-robin-picker}: ignores scores; each decision starts one further along the list.
   */
  static final class RoundRobinPicker implements Picker {
    private final AtomicLong next = new AtomicLong();

    @Override
    public void pick(Candidates c, double[] totals, int[] order) {
      int n = c.size();
      int start = (int) Math.floorMod(next.getAndIncrement(), (long) n);
      for (int i = 0; i < n; i++) order[i] = (start + i) % n;
    }
  }

  /** {@code random-picker}: a uniformly random order. */
  static final class RandomPicker implements Picker {
    @Override
    public void pick(Candidates c, double[] totals, int[] order) {
      int n = c.size();
      for (int i = 0; i < n; i++) order[i] = i;
      synchronized (c.context().random()) {
        for (int i = n - 1; i > 0; i--) {
          int j = c.context().random().nextInt(i + 1);
          int t = order[i];
          order[i] = order[j];
          order[j] = t;
        }
      }
    }
  }

  /**
   * {@code bounded-load-hash-picker}: consistent hashing with bounded loads (Mirrokni, Thorup,
   * Zadimoghaddam, "Consistent Hashing with Bounded Loads", SODA 2018; as in Vimeo's and HAProxy's
   * balancers). The key (session key, else the prompt's first block, else none) ranks endpoints by
   * rendezvous hashing; the first whose in-flight load is at most {@code c} × the mean (+1) takes
   * the request, so a hot session spills to its next choice instead of melting one replica. Without
   * a key: least in-flight first.
   */
  record BoundedLoadHashPicker(
      @Param(
              doc =
                  "load bound: an endpoint takes the key while its in-flight load is at most c × the mean (+1)",
              min = 1,
              max = 100)
          double c)
      implements Picker {
    static final BoundedLoadHashPicker DEFAULTS = new BoundedLoadHashPicker(1.25);

    @Override
    public void pick(Candidates cand, double[] totals, int[] order) {
      int n = cand.size();
      String session = cand.request().sessionKey();
      long keyHash;
      if (session != null) keyHash = Rendezvous.hash(session);
      else if (cand.request().chain().length() > 0)
        keyHash = Rendezvous.mix(cand.request().chain().hash(0));
      else {
        double[] keys = new double[n];
        for (int i = 0; i < n; i++) keys[i] = -cand.get(i).inFlight();
        Order.jitter(keys, n, cand.context().random());
        Order.descending(keys, order, n);
        return;
      }
      double[] keys = new double[n];
      double mean = 0;
      for (int i = 0; i < n; i++) {
        EndpointState e = cand.get(i);
        keys[i] = Rendezvous.weight(keyHash, e);
        mean += e.inFlight();
      }
      mean /= n;
      Order.descending(keys, order, n);
      double bound = c * mean + 1;
      int at = 0;
      while (at < n && cand.get(order[at]).inFlight() > bound) at++;
      if (at > 0 && at < n) {
        int chosen = order[at];
        System.arraycopy(order, 0, order, 1, at);
        order[0] = chosen;
      }
    }
  }
}
