package io.kvgate.routing.policy;

import static io.kvgate.routing.policy.Words.num;

import io.kvgate.routing.EndpointState;
import io.kvgate.routing.Explanation;
import io.kvgate.routing.RoutingRequest;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
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

    @Override
    public PickerExplanation explain(Candidates c, double[] totals, int[] order) {
      double[] raw = Arrays.copyOf(totals, c.size());
      pick(c, totals, order);
      if (c.size() < 2) return PickerExplanation.of("the only candidate");
      return PickerExplanation.of(highestFirst(c, raw, order[0]));
    }
  }

  /** "the highest weighted score first", or the tie at the top and how it was broken. */
  private static String highestFirst(Candidates c, double[] raw, int winner) {
    List<String> tied = new ArrayList<>();
    for (int i = 0; i < c.size(); i++) if (raw[i] == raw[winner]) tied.add(c.get(i).id());
    if (tied.size() < 2) return "the highest weighted score first";
    return "the highest weighted score first; "
        + Words.list(tied)
        + " tie at "
        + num(raw[winner])
        + ", broken at random";
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

    @Override
    public PickerExplanation explain(Candidates c, double[] totals, int[] order) {
      int n = c.size();
      double[] raw = Arrays.copyOf(totals, n);
      pick(c, totals, order);
      if (n < 2) return PickerExplanation.of("the only candidate");
      if (temperature <= 0) return PickerExplanation.of(highestFirst(c, raw, order[0]));
      int best = 0;
      for (int i = 1; i < n; i++) if (raw[i] > raw[best]) best = i;
      double sum = 0;
      for (int i = 0; i < n; i++) sum += Math.exp((raw[i] - raw[best]) / temperature);
      int w = order[0];
      double pw = Math.exp((raw[w] - raw[best]) / temperature) / sum;
      String drew =
          "sampled at temperature "
              + num(temperature)
              + ": drew "
              + c.get(w).id()
              + " with probability "
              + num(pw);
      if (raw[w] == raw[best]) return PickerExplanation.of(drew + ", the highest weighted score");
      return PickerExplanation.of(
          drew + "; the best-scored, " + c.get(best).id() + ", had " + num(1 / sum));
    }
  }

  /**
   * {@code round-robin-picker}: ignores scores; each decision starts one further along the list.
   * Explaining reads the turn counter without advancing it.
   */
  static final class RoundRobinPicker implements Picker {
    private final AtomicLong next = new AtomicLong();

    @Override
    public void pick(Candidates c, double[] totals, int[] order) {
      turn(c.size(), next.getAndIncrement(), order);
    }

    private static void turn(int n, long turn, int[] order) {
      int start = (int) Math.floorMod(turn, (long) n);
      for (int i = 0; i < n; i++) order[i] = (start + i) % n;
    }

    @Override
    public PickerExplanation explain(Candidates c, double[] totals, int[] order) {
      long turn = next.get();
      turn(c.size(), turn, order);
      return PickerExplanation.of(
          "ignores scores and load: each decision starts one further along the "
              + Words.count(c.size(), "candidate")
              + "; the next one starts at "
              + c.get(order[0]).id()
              + " (turn "
              + turn
              + "), unless a request routed meanwhile takes that turn");
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

    @Override
    public PickerExplanation explain(Candidates c, double[] totals, int[] order) {
      pick(c, totals, order);
      return PickerExplanation.of(
          "a uniformly random order: each request draws its own, this is one of them");
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
      if (!hasKey(cand.request())) {
        leastInFlight(cand, order);
        return;
      }
      spill(cand, order, hashOrder(cand, order));
    }

    private static boolean hasKey(RoutingRequest r) {
      return r.sessionKey() != null || r.chain().length() > 0;
    }

    private static void leastInFlight(Candidates cand, int[] order) {
      int n = cand.size();
      double[] keys = new double[n];
      for (int i = 0; i < n; i++) keys[i] = -cand.get(i).inFlight();
      Order.jitter(keys, n, cand.context().random());
      Order.descending(keys, order, n);
    }

    /** The key's rendezvous order into {@code order}; returns the load bound. */
    private double hashOrder(Candidates cand, int[] order) {
      int n = cand.size();
      String session = cand.request().sessionKey();
      long keyHash =
          session != null
              ? Rendezvous.hash(session)
              : Rendezvous.mix(cand.request().chain().hash(0));
      double[] keys = new double[n];
      double mean = 0;
      for (int i = 0; i < n; i++) {
        EndpointState e = cand.get(i);
        keys[i] = Rendezvous.weight(keyHash, e);
        mean += e.inFlight();
      }
      mean /= n;
      Order.descending(keys, order, n);
      return c * mean + 1;
    }

    /**
     * Moves the first choice within the bound to the front; returns its place in the key's order
     * (0: the first choice took it; n: none within the bound, the first choice keeps it).
     */
    private static int spill(Candidates cand, int[] order, double bound) {
      int n = cand.size();
      int at = 0;
      while (at < n && cand.get(order[at]).inFlight() > bound) at++;
      if (at > 0 && at < n) {
        int chosen = order[at];
        System.arraycopy(order, 0, order, 1, at);
        order[0] = chosen;
      }
      return at;
    }

    @Override
    public PickerExplanation explain(Candidates cand, double[] totals, int[] order) {
      int n = cand.size();
      if (!hasKey(cand.request())) {
        leastInFlight(cand, order);
        EndpointState w = cand.get(order[0]);
        return new PickerExplanation(
            "no session key and no prompt block to hash: least in flight first ("
                + w.id()
                + ": "
                + w.inFlight()
                + ")",
            inFlightTerms(cand, null));
      }
      double bound = hashOrder(cand, order);
      int[] byHash = Arrays.copyOf(order, n);
      int at = spill(cand, order, bound);
      String key =
          cand.request().sessionKey() != null ? "the session key" : "the prompt's first block";
      EndpointState first = cand.get(byHash[0]);
      String boundWords = "c × mean in flight + 1 = " + num(bound);
      String reason;
      if (at == 0) {
        reason =
            key
                + " hashes first to "
                + first.id()
                + ", within the load bound ("
                + first.inFlight()
                + " in flight ≤ "
                + boundWords
                + ")";
      } else if (at == n) {
        reason =
            key
                + " hashes first to "
                + first.id()
                + "; every candidate is over the load bound ("
                + boundWords
                + "), so the first choice keeps it";
      } else {
        EndpointState w = cand.get(order[0]);
        reason =
            key
                + " hashes first to "
                + first.id()
                + ", over the load bound ("
                + first.inFlight()
                + " in flight > "
                + boundWords
                + "): its choice #"
                + (at + 1)
                + ", "
                + w.id()
                + " ("
                + w.inFlight()
                + " in flight), is the first within it";
      }
      return new PickerExplanation(reason, inFlightTerms(cand, byHash));
    }

    /** {@code in_flight} and, with a key, {@code hash_choice} (1-based place in its order). */
    private static List<List<Explanation.Term>> inFlightTerms(Candidates cand, int[] byHash) {
      int n = cand.size();
      int[] place = new int[n];
      if (byHash != null) for (int k = 0; k < n; k++) place[byHash[k]] = k + 1;
      List<List<Explanation.Term>> out = new ArrayList<>();
      for (int i = 0; i < n; i++) {
        Explanation.Term load = new Explanation.Term("in_flight", cand.get(i).inFlight());
        out.add(
            byHash == null
                ? List.of(load)
                : List.of(load, new Explanation.Term("hash_choice", place[i])));
      }
      return out;
    }
  }
}
