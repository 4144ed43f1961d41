package io.kvgate.gateway.cluster;

import com.hazelcast.cluster.Member;
import com.hazelcast.cluster.MembershipEvent;
import com.hazelcast.cluster.MembershipListener;
import com.hazelcast.config.Config;
import com.hazelcast.config.JoinConfig;
import com.hazelcast.config.NetworkConfig;
import com.hazelcast.core.Hazelcast;
import com.hazelcast.core.HazelcastInstance;
import com.hazelcast.core.LifecycleEvent;
import com.hazelcast.topic.ITopic;
import io.kvgate.gateway.auth.ApiKey;
import io.kvgate.gateway.auth.KeyRing;
import io.kvgate.gateway.auth.LocalRateLimiter;
import io.kvgate.gateway.config.GatewayConfig;
import io.kvgate.gateway.fleet.ModelRoute;
import io.kvgate.gateway.fleet.PolicyWatcher;
import io.kvgate.gateway.log.LogLimiter;
import io.kvgate.routing.EndpointState;
import io.kvgate.routing.prefix.BlockChain;
import io.kvgate.routing.prefix.PrefixIndex;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.net.InetAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.UUID;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * This gateway's member of the kvgate cluster: an embedded Hazelcast member used for membership and
 * transport only. The request path never touches Hazelcast: it reads gateway-owned structures (the
 * prefix index, {@link EndpointState}'s counters and flags, the rate-limit buckets, the installed
 * policy), which this class updates from what peers publish.
 *
 * <p>What is shared, and how:
 *
 * <ul>
 *   <li><b>Prefix index.</b> Every write to a model's index (routing decisions and engine KV events
 *       alike) is journaled ({@link Outbox}) and shipped every {@code publishInterval} as one
 *       numbered DELTA message per gateway on the {@value #STATE_TOPIC} topic; peers apply it to
 *       their own index. A gap in a sender's sequence (a dropped message, a healed partition) asks
 *       that sender for a snapshot, merged as a union. A joining gateway asks the oldest peer for a
 *       snapshot and its sequence vector, buffers the deltas arriving meanwhile and replays those
 *       past the vector, and reports ready only then.
 *   <li><b>Load, health verdicts, rate-limit use.</b> Each gateway publishes a STATE message with
 *       its own counts per endpoint (in flight, pending prefill, active and decode tokens), its
 *       ejections and what its admissions took per key, when they change (at most every publish
 *       interval) and every {@code heartbeat}. Readers keep each live peer's last report and sum
 *       them into {@link EndpointState.Peers}; a peer's report vanishes when its member leaves (or
 *       goes silent for long), so a killed gateway's counts vanish with it and nothing accumulates
 *       across a partition. Rate-limit use is debited as the growth between two reports.
 *   <li><b>Drains and policy reloads.</b> Last-writer-wins registers with a Lamport version,
 *       republished in every STATE: a drain or a reload on one gateway applies everywhere, and both
 *       halves of a healed partition converge on the newest.
 * </ul>
 *
 * <p>Snapshots go to the asker's own topic ({@code kvgate.inbox.<gatewayId>}). All state changes
 * run on one thread ({@code kvgate-cluster}); Hazelcast's listener threads only hand messages to
 * it. Plain topics (not ReliableTopic) carry everything: sequence numbers make loss visible, and
 * snapshots repair it, so a slow receiver is never unsubscribed and a publish never waits.
 */
public final class ClusterNode {

  static final String STATE_TOPIC = "kvgate.state";
  static final String INBOX_PREFIX = "kvgate.inbox.";
  static final String GATEWAY_ATTRIBUTE = "kvgate.gateway";

  /** Blocks per snapshot message. */
  static final int SNAPSHOT_CHUNK_BLOCKS = 65_536;

  /** Deltas kept while catching up, before the snapshot is asked again. */
  static final int MAX_BUFFERED_DELTAS = 100_000;

  /** Bytes of deltas kept while catching up, before the snapshot is asked again. */
  static final long MAX_BUFFERED_BYTES = 256L << 20;

  /** Index write batches are split at about this many bytes. */
  static final int MAX_DELTA_BYTES = 4 << 20;

  private static final Logger LOG = Logger.getLogger(ClusterNode.class.getName());

  private final Vertx vertx;
  private final GatewayConfig.Cluster config;
  private final List<ModelRoute> routes;
  private final LocalRateLimiter limiter;
  private final Map<String, ApiKey> keysByName = new HashMap<>();
  private final PolicyWatcher policies;
  private final LogLimiter logs;
  private final String gatewayId;
  private final long incarnation = new Random().nextLong();

  /** Every (model, endpoint), in model then endpoint order: the "targets" of messages. */
  private final List<Target> targets = new ArrayList<>();

  private final Map<String, Integer> targetByKey = new HashMap<>();
  private final Outbox outbox = new Outbox();
  private final ScheduledExecutorService exec;
  private final Metrics metrics;

  private HazelcastInstance hz;
  private ITopic<byte[]> stateTopic;
  private ITopic<byte[]> inbox;

  // ---- state below is owned by the cluster thread ----
  private long seq;
  private long clock;
  private long lastStateNanos;
  private long[] lastPublished;
  private long lastConsumption;
  private final Map<String, Peer> peers = new LinkedHashMap<>();

  /** Gateway ids of the current members (this one included), by member UUID. */
  private final Map<UUID, String> members = new java.util.concurrent.ConcurrentHashMap<>();

  private final Map<String, Register> drains = new HashMap<>();
  private final Map<String, PolicyRegister> policyRegisters = new HashMap<>();
  private final Map<String, Long> lastResyncAsk = new HashMap<>();

  /** Resyncs not sent yet (rate-limited, sender not a member yet, catch-up running): retried. */
  private final Map<String, String> pendingResync = new LinkedHashMap<>();

  /** Catch-up in progress: the peer asked, the nonce, and the deltas buffered meanwhile. */
  private CatchUp catchUp;

  private volatile boolean caughtUp;
  private volatile String catchUpOutcome = "pending";
  private volatile boolean closed;

  record Target(ModelRoute route, EndpointState state, String key) {}

  /** A drain register: last writer (by version, then gateway id) wins. */
  record Register(boolean value, long version, String origin) {
    boolean newerThan(Register o) {
      return o == null
          || version > o.version
          || version == o.version && origin.compareTo(o.origin) > 0;
    }
  }

  /** A policy register. */
  record PolicyRegister(long version, String origin, String source, String yaml) {
    boolean newerThan(PolicyRegister o) {
      return o == null
          || version > o.version
          || version == o.version && origin.compareTo(o.origin) > 0;
    }
  }

  /** What one peer gateway last told us. */
  static final class Peer {
    final String gateway;
    long incarnation;
    long lastSeq = -1;
    long stateAtNanos;
    long wallMillis;
    int[] inFlight;
    long[] pending;
    long[] active;
    long[] decode;
    boolean[] ejected;
    Map<String, long[]> consumption = new HashMap<>();
    boolean reported;

    Peer(String gateway, long incarnation, int targets) {
      this.gateway = gateway;
      this.incarnation = incarnation;
      reset(targets);
    }

    void reset(int n) {
      inFlight = new int[n];
      pending = new long[n];
      active = new long[n];
      decode = new long[n];
      ejected = new boolean[n];
      stateAtNanos = 0;
    }
  }

  static final class CatchUp {
    final String peer;
    final long nonce;
    final long startedNanos;
    final List<byte[]> buffered = new ArrayList<>();
    long bytes;
    boolean overflowed;

    CatchUp(String peer, long nonce) {
      this.peer = peer;
      this.nonce = nonce;
      this.startedNanos = System.nanoTime();
    }
  }

  public ClusterNode(
      Vertx vertx,
      GatewayConfig.Cluster config,
      List<ModelRoute> routes,
      LocalRateLimiter limiter,
      KeyRing keys,
      PolicyWatcher policies,
      MeterRegistry registry,
      LogLimiter logs) {
    this.vertx = vertx;
    this.config = config;
    this.routes = routes;
    this.limiter = limiter;
    for (ApiKey k : keys.keys()) keysByName.put(k.name(), k);
    this.policies = policies;
    this.logs = logs;
    this.gatewayId = config.gatewayId() != null ? config.gatewayId() : newGatewayId();
    for (ModelRoute r : routes) {
      int[] targetOfSlot = new int[r.endpoints().size()];
      for (EndpointState e : r.endpoints()) {
        String key = key(r.name(), e.id());
        targetOfSlot[e.slot()] = targets.size();
        targetByKey.put(key, targets.size());
        targets.add(new Target(r, e, key));
      }
      r.journaled().attach(outbox.journal(targetOfSlot));
      r.onDrainChanged((id, drained) -> submit(() -> localDrain(r.name(), id, drained)));
    }
    policies.onReloaded(p -> submit(() -> localPolicy(p)));
    this.lastPublished = new long[targets.size() * 5];
    this.exec =
        Executors.newSingleThreadScheduledExecutor(
            r -> {
              Thread t = new Thread(r, "kvgate-cluster-" + gatewayId);
              t.setDaemon(true);
              return t;
            });
    this.metrics = new Metrics(registry, this);
  }

  /** Runs {@code task} on the cluster thread; nothing once closed (callbacks may still arrive). */
  private void submit(Runnable task) {
    if (closed) return;
    try {
      exec.execute(task);
    } catch (java.util.concurrent.RejectedExecutionException closing) {
      // closed meanwhile
    }
  }

  static String key(String model, String endpoint) {
    return model + '\u0000' + endpoint;
  }

  private static String newGatewayId() {
    String host;
    try {
      host = InetAddress.getLocalHost().getHostName();
    } catch (IOException e) {
      host = "gateway";
    }
    return host + "-" + Long.toHexString(new Random().nextLong() & 0xffffffL);
  }

  /** This gateway's id in the cluster. */
  public String gatewayId() {
    return gatewayId;
  }

  /** The embedded member (tests kill it to stand for a killed gateway). */
  public HazelcastInstance hazelcast() {
    return hz;
  }

  /** Whether this gateway has caught up with its peers (or has none), so it may report ready. */
  public boolean caughtUp() {
    return caughtUp;
  }

  /** Joins the cluster (on a worker thread: joining blocks) and starts catching up. */
  public Future<Void> start() {
    return vertx
        .executeBlocking(
            () -> {
              hz = Hazelcast.newHazelcastInstance(hazelcastConfig());
              return hz;
            },
            false)
        .map(
            h -> {
              stateTopic = h.getTopic(STATE_TOPIC);
              inbox = h.getTopic(INBOX_PREFIX + gatewayId);
              stateTopic.addMessageListener(m -> received(m.getMessageObject()));
              inbox.addMessageListener(m -> received(m.getMessageObject()));
              h.getCluster()
                  .addMembershipListener(
                      new MembershipListener() {
                        @Override
                        public void memberAdded(MembershipEvent e) {
                          submit(() -> ClusterNode.this.memberAdded(e.getMember()));
                        }

                        @Override
                        public void memberRemoved(MembershipEvent e) {
                          submit(() -> ClusterNode.this.memberRemoved(e.getMember()));
                        }
                      });
              h.getLifecycleService()
                  .addLifecycleListener(
                      e -> {
                        if (e.getState() == LifecycleEvent.LifecycleState.MERGED) {
                          submit(this::merged);
                        }
                      });
              exec.execute(this::begin);
              long every = Math.max(1, config.publishInterval().toMillis());
              exec.scheduleWithFixedDelay(this::tickSafely, every, every, TimeUnit.MILLISECONDS);
              return null;
            });
  }

  Config hazelcastConfig() {
    Config c = new Config();
    c.setClusterName(config.name());
    c.setInstanceName("kvgate-" + gatewayId + "-" + Long.toHexString(incarnation));
    c.setProperty("hazelcast.phone.home.enabled", "false");
    c.setProperty("hazelcast.shutdownhook.enabled", "false");
    c.setProperty("hazelcast.logging.type", "jdk");
    c.setProperty("hazelcast.heartbeat.interval.seconds", "1");
    c.setProperty(
        "hazelcast.max.no.heartbeat.seconds",
        Long.toString(Math.max(2, config.memberTimeout().toSeconds())));
    String merge = Long.toString(Math.max(1, config.mergeDelay().toSeconds()));
    c.setProperty("hazelcast.merge.first.run.delay.seconds", merge);
    c.setProperty("hazelcast.merge.next.run.delay.seconds", merge);
    c.setProperty("hazelcast.wait.seconds.before.join", "0");
    c.getMemberAttributeConfig().setAttribute(GATEWAY_ATTRIBUTE, gatewayId);
    NetworkConfig n = c.getNetworkConfig();
    n.setPort(config.port()).setPortAutoIncrement(false);
    if (config.host().equals("0.0.0.0")) {
      c.setProperty("hazelcast.socket.bind.any", "true");
    } else {
      c.setProperty("hazelcast.socket.bind.any", "false");
      n.getInterfaces().setEnabled(true).addInterface(config.host());
    }
    JoinConfig j = n.getJoin();
    j.getAutoDetectionConfig().setEnabled(false);
    j.getMulticastConfig().setEnabled(false);
    switch (config.join()) {
      case "multicast" ->
          j.getMulticastConfig()
              .setEnabled(true)
              .setMulticastGroup(config.multicastGroup())
              .setMulticastPort(config.multicastPort());
      case "kubernetes" -> {
        var k = j.getKubernetesConfig().setEnabled(true);
        GatewayConfig.Kubernetes kc = config.kubernetes();
        if (kc.namespace() != null) k.setProperty("namespace", kc.namespace());
        if (kc.serviceName() != null) k.setProperty("service-name", kc.serviceName());
        if (kc.serviceDns() != null) k.setProperty("service-dns", kc.serviceDns());
        // the members' port (DNS mode assumes 5701 otherwise)
        k.setProperty("service-port", Integer.toString(config.port()));
      }
      default -> {
        var t = j.getTcpIpConfig().setEnabled(true).setConnectionTimeoutSeconds(1);
        if (config.members().isEmpty()) t.addMember(config.host() + ":" + config.port());
        for (String m : config.members()) t.addMember(m);
      }
    }
    return c;
  }

  // ---- membership ----

  private void begin() {
    for (Member m : hz.getCluster().getMembers()) {
      String g = m.getAttribute(GATEWAY_ATTRIBUTE);
      if (g != null) members.put(m.getUuid(), g);
    }
    LOG.info(
        "cluster '"
            + config.name()
            + "': gateway "
            + gatewayId
            + " joined with "
            + (members.size() - 1)
            + " peer gateway(s)");
    startCatchUp();
    long timeout = Math.max(1, config.catchUpTimeout().toMillis());
    exec.schedule(this::catchUpTimedOut, timeout, TimeUnit.MILLISECONDS);
  }

  private void startCatchUp() {
    String peer = null;
    for (Member m : hz.getCluster().getMembers()) {
      if (m.localMember()) continue;
      String g = m.getAttribute(GATEWAY_ATTRIBUTE);
      // the oldest member first; never this gateway's own previous member, not yet timed out
      if (g != null && !g.equals(gatewayId)) {
        peer = g;
        break;
      }
    }
    if (peer == null) {
      if (!caughtUp) finishCatchUp("no peers");
      return;
    }
    catchUp = new CatchUp(peer, new Random().nextLong());
    askSnapshot(peer, catchUp.nonce);
  }

  private void catchUpTimedOut() {
    if (caughtUp) return;
    LOG.warning(
        "cluster: no complete snapshot from "
            + (catchUp == null ? "any peer" : catchUp.peer)
            + " within "
            + config.catchUpTimeout().toMillis()
            + " ms; reporting ready with the index as it is");
    CatchUp c = catchUp;
    catchUp = null;
    if (c != null) for (byte[] m : c.buffered) applyDelta(m);
    finishCatchUp("timed out");
  }

  private void finishCatchUp(String outcome) {
    catchUpOutcome = outcome;
    caughtUp = true;
    metrics.caughtUp(outcome);
  }

  private void memberAdded(Member m) {
    String g = m.getAttribute(GATEWAY_ATTRIBUTE);
    if (g == null) return;
    members.put(m.getUuid(), g);
    LOG.info("cluster: gateway " + g + " joined");
    // tell the newcomer everything that is ours now, not at the next heartbeat
    lastStateNanos = 0;
    // a gateway coming back from the other side of a partition holds what it indexed there, which
    // no delta of ours will ever carry: merge its snapshot (a fresh gateway's is nearly empty)
    if (caughtUp) resync(g, "member_joined");
  }

  private void memberRemoved(Member m) {
    String g = members.remove(m.getUuid());
    if (g == null) g = m.getAttribute(GATEWAY_ATTRIBUTE);
    if (g == null) return;
    if (catchUp != null && catchUp.peer.equals(g) && !g.equals(gatewayId)) {
      CatchUp c = catchUp;
      catchUp = null;
      startCatchUp();
      if (catchUp != null) {
        catchUp.buffered.addAll(c.buffered);
        catchUp.bytes = c.bytes;
      }
    }
    if (members.containsValue(g)) return; // the same gateway under a newer member UUID
    Peer p = peers.remove(g);
    LOG.info("cluster: gateway " + g + " left; its load contributions are dropped");
    if (p != null) recomputePeers();
  }

  private void merged() {
    LOG.info("cluster: merged after a split; republishing this gateway's state");
    members.clear();
    for (Member m : hz.getCluster().getMembers()) {
      String g = m.getAttribute(GATEWAY_ATTRIBUTE);
      if (g != null) members.put(m.getUuid(), g);
    }
    peers.keySet().retainAll(members.values());
    recomputePeers();
    lastStateNanos = 0;
    metrics.merges.increment();
    // what the other side indexed during the split reached us by no delta: merge their snapshots
    if (caughtUp) {
      for (String g : new java.util.TreeSet<>(members.values())) {
        if (!g.equals(gatewayId)) resync(g, "merged");
      }
    }
  }

  // ---- sending ----

  private void tickSafely() {
    try {
      tick();
    } catch (Throwable e) { // an Error too: it would cancel the schedule for good
      logs.log(LOG, Level.WARNING, "cluster", () -> "cluster publish failed: " + e);
    }
  }

  private void tick() {
    if (closed || hz == null) return;
    flushDeltas();
    if (!pendingResync.isEmpty() && catchUp == null) {
      for (Map.Entry<String, String> r : new ArrayList<>(pendingResync.entrySet())) {
        if (!members.containsValue(r.getKey()) && !peers.containsKey(r.getKey())) {
          pendingResync.remove(r.getKey()); // gone: nothing to repair from
        } else {
          resync(r.getKey(), r.getValue());
        }
      }
    }
    long now = System.nanoTime();
    boolean heartbeat = now - lastStateNanos >= config.heartbeat().toNanos();
    long[] load = loadVector();
    long consumption = limiter.consumptionChanges();
    if (heartbeat
        || consumption != lastConsumption
        || !java.util.Arrays.equals(load, lastPublished)) {
      publishState(load);
      lastPublished = load;
      lastConsumption = consumption;
      lastStateNanos = now;
    }
    expireSilentPeers(now);
  }

  private long[] loadVector() {
    long[] v = new long[targets.size() * 5];
    for (int t = 0; t < targets.size(); t++) {
      EndpointState e = targets.get(t).state();
      v[t * 5] = e.localInFlight();
      v[t * 5 + 1] = e.localPendingPrefillTokens();
      v[t * 5 + 2] = e.localActiveTokens();
      v[t * 5 + 3] = e.localDecodeTokens();
      v[t * 5 + 4] = e.localHealthy() ? 0 : 1;
    }
    return v;
  }

  /** Ships the queued index writes as one or more DELTA messages. */
  private void flushDeltas() {
    Outbox.Op op = outbox.poll();
    boolean lost = outbox.takeLost();
    if (op == null && !lost) return;
    while (op != null || lost) {
      long flushNanos = System.nanoTime();
      List<Outbox.Op> batch = new ArrayList<>();
      Map<Integer, Integer> table = new LinkedHashMap<>();
      long bytes = 0;
      int routed = 0;
      while (op != null) {
        batch.add(op);
        table.putIfAbsent(op.target(), table.size());
        bytes +=
            16
                + 8L
                    * (op.chain() != null
                        ? op.chain().length()
                        : op.hashes() != null
                            ? op.hashes().length * (op.parents() != null ? 2 : 1)
                            : 0);
        if (op.kind() == Wire.OP_ROUTED) routed++;
        if (bytes > MAX_DELTA_BYTES) break;
        op = outbox.poll();
      }
      if (op != null && bytes > MAX_DELTA_BYTES) op = outbox.poll();
      Wire.Out w = new Wire.Out((int) Math.min(bytes + 256, MAX_DELTA_BYTES + 4096));
      w.header(Wire.DELTA, gatewayId, incarnation, System.currentTimeMillis());
      w.l(++seq).bool(lost);
      lost = false;
      w.i(table.size());
      for (int t : table.keySet()) w.str(targets.get(t).key());
      w.i(batch.size());
      for (Outbox.Op o : batch) {
        w.b(o.kind()).i(table.get(o.target()));
        w.i((int) Math.min(Integer.MAX_VALUE, (flushNanos - o.nanos()) / 1000));
        switch (o.kind()) {
          case Wire.OP_ROUTED -> {
            BlockChain c = o.chain();
            w.i(c.length());
            for (int k = 0; k < c.length(); k++) w.l(c.hash(k));
          }
          case Wire.OP_STORED -> {
            w.l(o.parent()).bool(o.flag()).i(o.hashes().length);
            for (long h : o.hashes()) w.l(h);
          }
          case Wire.OP_HELD -> {
            w.i(o.hashes().length).bool(o.parents() != null);
            for (long h : o.hashes()) w.l(h);
            if (o.parents() != null) for (long h : o.parents()) w.l(h);
          }
          case Wire.OP_REMOVED -> {
            w.i(o.hashes().length);
            for (long h : o.hashes()) w.l(h);
          }
          case Wire.OP_EXPIRES -> w.bool(o.flag());
          default -> {}
        }
      }
      publish(stateTopic, w, "delta");
      metrics.routedShipped.increment(routed);
      if (bytes <= MAX_DELTA_BYTES) break;
    }
  }

  private void publishState(long[] load) {
    Wire.Out w = new Wire.Out(256 + targets.size() * 64);
    w.header(Wire.STATE, gatewayId, incarnation, System.currentTimeMillis());
    w.l(seq);
    w.i(targets.size());
    for (int t = 0; t < targets.size(); t++) {
      w.str(targets.get(t).key());
      w.i((int) load[t * 5]).l(load[t * 5 + 1]).l(load[t * 5 + 2]).l(load[t * 5 + 3]);
      w.bool(load[t * 5 + 4] != 0);
    }
    w.i(drains.size());
    for (Map.Entry<String, Register> d : drains.entrySet()) {
      w.str(d.getKey())
          .bool(d.getValue().value())
          .l(d.getValue().version())
          .str(d.getValue().origin());
    }
    Map<String, long[]> use = limiter.consumption();
    w.i(use.size());
    for (Map.Entry<String, long[]> u : use.entrySet()) {
      w.str(u.getKey()).l(u.getValue()[0]).l(u.getValue()[1]);
    }
    w.i(policyRegisters.size());
    for (Map.Entry<String, PolicyRegister> p : policyRegisters.entrySet()) {
      PolicyRegister r = p.getValue();
      w.str(p.getKey()).l(r.version()).str(r.origin()).str(r.source()).str(r.yaml());
    }
    publish(stateTopic, w, "state");
  }

  private void publish(ITopic<byte[]> topic, Wire.Out w, String type) {
    byte[] b = w.bytes();
    try {
      topic.publish(b);
      metrics.sent(type, b.length);
    } catch (RuntimeException e) {
      if (!closed) {
        logs.log(LOG, Level.WARNING, "cluster", () -> "cluster " + type + " not sent: " + e);
      }
    }
  }

  private void askSnapshot(String peer, long nonce) {
    Wire.Out w = new Wire.Out(64);
    w.header(Wire.SNAPSHOT_REQUEST, gatewayId, incarnation, System.currentTimeMillis());
    w.l(nonce);
    publish(hz.getTopic(INBOX_PREFIX + peer), w, "snapshot_request");
    metrics.snapshotsAsked.increment();
  }

  /** Answers a peer's snapshot request: the sequence vector, then every slot's blocks in chunks. */
  private void serveSnapshot(String asker, long nonce) {
    flushDeltas(); // our own writes so far are covered by seq
    ITopic<byte[]> to = hz.getTopic(INBOX_PREFIX + asker);
    List<Object[]> pieces = new ArrayList<>();
    for (Target t : targets) {
      PrefixIndex.Held h = t.route().localIndex().held(t.state().slot());
      int n = h.hashes().length;
      if (n == 0) {
        pieces.add(new Object[] {t.key(), h, 0, 0});
        continue;
      }
      for (int from = 0; from < n; from += SNAPSHOT_CHUNK_BLOCKS) {
        pieces.add(new Object[] {t.key(), h, from, Math.min(n, from + SNAPSHOT_CHUNK_BLOCKS)});
      }
    }
    int chunk = 0;
    int i = 0;
    do {
      Wire.Out w = new Wire.Out(1 << 16);
      w.header(Wire.SNAPSHOT, gatewayId, incarnation, System.currentTimeMillis());
      w.l(nonce).i(chunk++);
      int blocks = 0;
      List<Object[]> here = new ArrayList<>();
      while (i < pieces.size()) {
        Object[] p = pieces.get(i);
        int size = (int) p[3] - (int) p[2];
        if (!here.isEmpty() && blocks + size > SNAPSHOT_CHUNK_BLOCKS) break;
        here.add(p);
        blocks += size;
        i++;
      }
      boolean last = i >= pieces.size();
      w.bool(last);
      if (last) {
        // the sequence vector: what this index includes
        w.i(peers.size() + 1);
        w.str(gatewayId).l(incarnation).l(seq);
        for (Peer p : peers.values()) w.str(p.gateway).l(p.incarnation).l(p.lastSeq);
      }
      w.i(here.size());
      for (Object[] p : here) {
        PrefixIndex.Held h = (PrefixIndex.Held) p[1];
        int from = (int) p[2];
        int to2 = (int) p[3];
        w.str((String) p[0]).bool(h.expires()).i(to2 - from).bool(h.parents() != null);
        for (int k = from; k < to2; k++) w.l(h.hashes()[k]);
        if (h.parents() != null) for (int k = from; k < to2; k++) w.l(h.parents()[k]);
      }
      publish(to, w, "snapshot");
    } while (i < pieces.size());
    metrics.snapshotsServed.increment();
  }

  // ---- receiving ----

  private void received(byte[] message) {
    if (closed) return;
    submit(() -> receive(message));
  }

  private void receive(byte[] message) {
    Wire.In in;
    try {
      in = new Wire.In(message);
    } catch (IOException e) {
      metrics.malformed.increment();
      return;
    }
    if (in.gateway.equals(gatewayId) && in.incarnation == incarnation) return; // our own
    metrics.received(message.length);
    try {
      switch (in.type) {
        case Wire.DELTA -> {
          if (catchUp != null) {
            if (catchUp.buffered.size() < MAX_BUFFERED_DELTAS
                && catchUp.bytes + message.length <= MAX_BUFFERED_BYTES) {
              catchUp.buffered.add(message);
              catchUp.bytes += message.length;
            } else {
              catchUp.overflowed = true;
            }
          } else {
            applyDelta(message);
          }
        }
        case Wire.STATE -> applyState(in);
        case Wire.SNAPSHOT_REQUEST -> serveSnapshot(in.gateway, in.l());
        case Wire.SNAPSHOT -> applySnapshot(in);
        default -> metrics.malformed.increment();
      }
    } catch (IOException | RuntimeException e) {
      metrics.malformed.increment();
      logs.log(
          LOG,
          Level.WARNING,
          "cluster",
          () -> "cluster message from " + in.gateway + " not applied: " + e);
    }
  }

  private Peer peer(Wire.In in) {
    Peer p = peers.get(in.gateway);
    if (p == null || p.incarnation != in.incarnation) {
      p = new Peer(in.gateway, in.incarnation, targets.size());
      peers.put(in.gateway, p);
    }
    return p;
  }

  private void applyDelta(byte[] message) {
    Wire.In in;
    try {
      in = new Wire.In(message);
      applyDelta(in);
    } catch (IOException | RuntimeException e) {
      metrics.malformed.increment();
    }
  }

  private void applyDelta(Wire.In in) throws IOException {
    Peer p = peer(in);
    long s = in.l();
    boolean lossy = in.bool();
    if (p.lastSeq >= 0 && s <= p.lastSeq) {
      metrics.duplicates.increment();
      return;
    }
    boolean gap = lossy || (p.lastSeq >= 0 ? s != p.lastSeq + 1 : s != 1);
    p.lastSeq = s;
    int nt = in.count(4);
    int[] slotOf = new int[nt];
    PrefixIndex[] index = new PrefixIndex[nt];
    for (int k = 0; k < nt; k++) {
      Integer t = targetByKey.get(in.str());
      if (t == null) {
        slotOf[k] = -1;
        continue;
      }
      slotOf[k] = targets.get(t).state().slot();
      index[k] = targets.get(t).route().localIndex();
    }
    int n = in.count(9);
    long now = System.nanoTime();
    long nowWall = System.currentTimeMillis();
    long baseMicros = Math.max(0, nowWall - in.wallMillis) * 1000;
    for (int k = 0; k < n; k++) {
      byte kind = in.b();
      int t = in.i();
      long ageMicros = in.i();
      if (t < 0 || t >= nt) throw new IOException("bad target " + t);
      int slot = slotOf[t];
      PrefixIndex idx = index[t];
      switch (kind) {
        case Wire.OP_ROUTED -> {
          long[] h = in.longs(in.count(8));
          if (slot >= 0) idx.recordRouted(slot, new BlockChain(h, 1, h.length), now);
        }
        case Wire.OP_STORED -> {
          long parent = in.l();
          boolean has = in.bool();
          long[] h = in.longs(in.count(8));
          if (slot >= 0) idx.blocksStored(slot, h, 0, h.length, parent, has, now);
        }
        case Wire.OP_HELD -> {
          int c = in.count(8);
          boolean hasParents = in.bool();
          long[] h = in.longs(c);
          long[] ps = hasParents ? in.longs(c) : null;
          if (slot >= 0) idx.snapshotStored(slot, h, ps, 0, c, now);
        }
        case Wire.OP_REMOVED -> {
          long[] h = in.longs(in.count(8));
          if (slot >= 0) idx.blocksRemoved(slot, h, 0, h.length);
        }
        case Wire.OP_CLEARED -> {
          if (slot >= 0) idx.clearEndpoint(slot);
        }
        case Wire.OP_EXPIRES -> {
          boolean on = in.bool();
          if (slot >= 0) idx.setExpires(slot, on);
        }
        default -> throw new IOException("unknown index op " + kind);
      }
      if (slot < 0) metrics.unknownTargets.increment();
      metrics.propagation.record((baseMicros + ageMicros) * 1000, TimeUnit.NANOSECONDS);
    }
    metrics.deltasApplied.increment();
    if (gap) {
      metrics.gaps.increment();
      resync(in.gateway, lossy ? "sender_dropped" : "sequence_gap");
    }
  }

  /** Asks {@code gateway} for a snapshot to merge, at most once a second per gateway. */
  private void resync(String gateway, String reason) {
    if (gateway.equals(gatewayId)) return;
    long now = System.nanoTime();
    Long last = lastResyncAsk.get(gateway);
    if (!members.containsValue(gateway)
        || catchUp != null
        || last != null && now - last < 1_000_000_000L) {
      pendingResync.putIfAbsent(gateway, reason); // asked again from tick()
      return;
    }
    pendingResync.remove(gateway);
    lastResyncAsk.put(gateway, now);
    metrics.resync(reason);
    LOG.info("cluster: resync from gateway " + gateway + " (" + reason + ")");
    askSnapshot(gateway, 0);
  }

  /** Per snapshot being received (sender and nonce): the next chunk expected, -1 once broken. */
  private final Map<String, Integer> snapshotChunks = new HashMap<>();

  private void applySnapshot(Wire.In in) throws IOException {
    long nonce = in.l();
    int chunk = in.i();
    boolean last = in.bool();
    String key = in.gateway + '/' + in.incarnation + '/' + nonce;
    int expected = snapshotChunks.getOrDefault(key, 0);
    boolean whole = expected == chunk;
    if (last) snapshotChunks.remove(key);
    else snapshotChunks.put(key, whole ? chunk + 1 : -1);
    if (snapshotChunks.size() > 64) snapshotChunks.clear(); // abandoned ones
    Map<String, long[]> vector = new HashMap<>();
    if (last) {
      int nv = in.count(20);
      for (int k = 0; k < nv; k++) vector.put(in.str(), new long[] {in.l(), in.l()});
    }
    int n = in.count(10);
    long now = System.nanoTime();
    for (int k = 0; k < n; k++) {
      Integer t = targetByKey.get(in.str());
      boolean expires = in.bool();
      int c = in.count(8);
      boolean hasParents = in.bool();
      long[] h = in.longs(c);
      long[] ps = hasParents ? in.longs(c) : null;
      if (t == null) {
        metrics.unknownTargets.increment();
        continue;
      }
      Target target = targets.get(t);
      PrefixIndex idx = target.route().localIndex();
      if (!expires) idx.setExpires(target.state().slot(), false);
      if (c > 0) idx.mergeHeld(target.state().slot(), h, ps, 0, c, now);
      metrics.snapshotBlocks.increment(c);
    }
    if (!last) return;
    CatchUp c = catchUp;
    boolean mine = c != null && nonce == c.nonce;
    if (!whole) {
      // a chunk went missing: what was merged stays (a union), but the vector cannot be trusted
      metrics.gaps.increment();
      if (mine) {
        LOG.info(
            "cluster: a catch-up snapshot chunk from " + in.gateway + " was lost; asking again");
        catchUp = null;
        startCatchUp();
        if (catchUp != null) {
          catchUp.buffered.addAll(c.buffered);
          catchUp.bytes = c.bytes;
        }
      } else {
        resync(in.gateway, "snapshot_incomplete");
      }
      return;
    }
    // what a catch-up snapshot includes, per sender: deltas up to there are in it. A resync's
    // vector is not applied: deltas replayed on top of a union are harmless, skipped ones are lost
    for (Map.Entry<String, long[]> v :
        mine ? vector.entrySet() : Map.<String, long[]>of().entrySet()) {
      if (v.getKey().equals(gatewayId) || !members.containsValue(v.getKey())) continue;
      Peer p = peers.get(v.getKey());
      long inc = v.getValue()[0];
      if (p == null) {
        p = new Peer(v.getKey(), inc, targets.size());
        peers.put(v.getKey(), p);
      } else if (p.incarnation != inc) {
        continue; // the sender knew an older (or newer) incarnation than ours: not about this one
      }
      p.lastSeq = Math.max(p.lastSeq, v.getValue()[1]);
    }
    if (mine) {
      catchUp = null;
      if (c.overflowed) {
        LOG.info("cluster: too many deltas arrived during catch-up; asking again");
        startCatchUp();
        return;
      }
      for (byte[] m : c.buffered) applyDelta(m);
      long ms = (System.nanoTime() - c.startedNanos) / 1_000_000;
      LOG.info(
          "cluster: caught up from gateway "
              + c.peer
              + " in "
              + ms
              + " ms ("
              + c.buffered.size()
              + " deltas replayed)");
      if (!caughtUp) finishCatchUp("snapshot");
    }
  }

  private void applyState(Wire.In in) throws IOException {
    Peer p = peer(in);
    long lastDeltaSeq = in.l();
    if (catchUp == null && p.lastSeq >= 0 && lastDeltaSeq > p.lastSeq) {
      // a delta we never saw (its message was lost): the state says it was sent
      p.lastSeq = lastDeltaSeq;
      metrics.gaps.increment();
      resync(in.gateway, "sequence_gap");
    } else if (p.lastSeq < 0 && catchUp == null && caughtUp) {
      // first word from a gateway no snapshot covered: its deltas follow from here, and what it
      // wrote before is asked for
      p.lastSeq = lastDeltaSeq;
      if (lastDeltaSeq > 0) resync(in.gateway, "first_contact");
    }
    int n = in.count(8);
    p.reset(targets.size());
    for (int k = 0; k < n; k++) {
      Integer t = targetByKey.get(in.str());
      int f = in.i();
      long pend = in.l();
      long act = in.l();
      long dec = in.l();
      boolean ej = in.bool();
      if (t == null) continue;
      p.inFlight[t] = f;
      p.pending[t] = pend;
      p.active[t] = act;
      p.decode[t] = dec;
      p.ejected[t] = ej;
    }
    p.stateAtNanos = System.nanoTime();
    p.wallMillis = in.wallMillis;
    boolean live = members.containsValue(in.gateway);
    if (!live) p.reset(targets.size()); // a late word from a gateway that left: no load
    recomputePeers();
    int nd = in.count(8);
    for (int k = 0; k < nd; k++) {
      String key = in.str();
      Register r = new Register(in.bool(), in.l(), in.str());
      clock = Math.max(clock, r.version());
      Register mine = drains.get(key);
      if (r.newerThan(mine)) {
        drains.put(key, r);
        Integer t = targetByKey.get(key);
        if (t != null) {
          Target target = targets.get(t);
          target.route().applyDrained(target.state().id(), r.value());
          LOG.info(
              "cluster: endpoint "
                  + target.state().id()
                  + " of model '"
                  + target.route().name()
                  + "' "
                  + (r.value() ? "drained" : "undrained")
                  + " by gateway "
                  + r.origin());
        }
      }
    }
    int nk = in.count(8);
    long now = System.nanoTime();
    Map<String, long[]> use = new HashMap<>();
    for (int k = 0; k < nk; k++) use.put(in.str(), new long[] {in.l(), in.l()});
    if (live) {
      for (Map.Entry<String, long[]> u : use.entrySet()) {
        long[] before = p.consumption.get(u.getKey());
        // a key missing from the peer's previous report had taken nothing there; the peer's first
        // report is the baseline (what it took before we heard from it is not debited)
        if (before == null && p.reported) before = new long[2];
        ApiKey key = keysByName.get(u.getKey());
        if (before != null && key != null) {
          limiter.consumedElsewhere(
              key,
              Math.max(0, u.getValue()[0] - before[0]),
              Math.max(0, u.getValue()[1] - before[1]),
              now);
        }
      }
      p.consumption = use;
      p.reported = true;
    }
    int np = in.count(8);
    for (int k = 0; k < np; k++) {
      String model = in.str();
      PolicyRegister r = new PolicyRegister(in.l(), in.str(), in.str(), in.str());
      clock = Math.max(clock, r.version());
      if (!r.newerThan(policyRegisters.get(model))) continue;
      policyRegisters.put(model, r);
      for (ModelRoute route : routes) {
        if (!route.name().equals(model)) continue;
        String refused = policies.applyPeer(route, r.source(), r.yaml());
        if (refused != null) {
          LOG.warning(
              "cluster: policy from gateway "
                  + r.origin()
                  + " for model '"
                  + model
                  + "' refused here: "
                  + refused);
        }
      }
    }
  }

  private void expireSilentPeers(long now) {
    long limit = Math.max(5 * config.heartbeat().toNanos(), config.memberTimeout().toNanos());
    boolean changed = false;
    for (Peer p : peers.values()) {
      if (p.stateAtNanos != 0 && now - p.stateAtNanos > limit) {
        p.reset(targets.size());
        changed = true;
      }
    }
    if (changed) recomputePeers();
  }

  /** Sums every live peer's last report into each endpoint's {@link EndpointState.Peers}. */
  private void recomputePeers() {
    for (int t = 0; t < targets.size(); t++) {
      int f = 0;
      long pend = 0;
      long act = 0;
      long dec = 0;
      boolean ej = false;
      for (Peer p : peers.values()) {
        f += p.inFlight[t];
        pend += p.pending[t];
        act += p.active[t];
        dec += p.decode[t];
        ej |= p.ejected[t];
      }
      EndpointState e = targets.get(t).state();
      EndpointState.Peers now = new EndpointState.Peers(f, pend, act, dec, ej);
      if (!now.equals(e.peers())) e.setPeers(now);
    }
  }

  // ---- local changes to share ----

  private void localDrain(String model, String endpoint, boolean drained) {
    drains.put(key(model, endpoint), new Register(drained, ++clock, gatewayId));
    lastStateNanos = 0; // publish at the next tick
  }

  private void localPolicy(PolicyWatcher.Installed p) {
    policyRegisters.put(
        p.route().name(), new PolicyRegister(++clock, gatewayId, p.source(), p.yaml()));
    lastStateNanos = 0;
  }

  // ---- views ----

  /**
   * This gateway's view of the cluster, for {@code /admin/cluster} and the demo: members, peers and
   * the age of their last report, and per endpoint its own and the cluster's load.
   */
  public Future<JsonObject> view() {
    io.vertx.core.Promise<JsonObject> out = io.vertx.core.Promise.promise();
    exec.execute(
        () -> {
          try {
            out.complete(viewNow());
          } catch (RuntimeException e) {
            out.fail(e);
          }
        });
    return out.future();
  }

  private JsonObject viewNow() {
    long now = System.nanoTime();
    JsonArray ps = new JsonArray();
    for (Peer p : peers.values()) {
      ps.add(
          new JsonObject()
              .put("gateway", p.gateway)
              .put("live", members.containsValue(p.gateway))
              .put("last_delta_seq", p.lastSeq)
              .put(
                  "state_age_ms", p.stateAtNanos == 0 ? null : (now - p.stateAtNanos) / 1_000_000));
    }
    JsonArray eps = new JsonArray();
    for (Target t : targets) {
      EndpointState e = t.state();
      eps.add(
          new JsonObject()
              .put("model", t.route().name())
              .put("endpoint", e.id())
              .put("in_flight_here", e.localInFlight())
              .put("in_flight_cluster", e.inFlight())
              .put("pending_prefill_tokens_cluster", e.pendingPrefillTokens())
              .put("healthy_here", e.localHealthy())
              .put("ejected_by_peer", e.peers().ejected())
              .put("drained", t.route().drained(e))
              .put("indexed_blocks", t.route().index().heldBlocks(e.slot())));
    }
    JsonArray ms = new JsonArray();
    members.values().stream().sorted().forEach(ms::add);
    return new JsonObject()
        .put("cluster", config.name())
        .put("gateway", gatewayId)
        .put("members", ms)
        .put("caught_up", caughtUp)
        .put("catch_up", catchUpOutcome)
        .put("delta_seq", seq)
        .put("peers", ps)
        .put("endpoints", eps);
  }

  /** Leaves the cluster (a graceful leave: peers drop this gateway's load at once). */
  public Future<Void> close() {
    if (closed) return Future.succeededFuture();
    closed = true;
    for (ModelRoute r : routes) {
      r.journaled().attach(null);
      r.onDrainChanged(null);
    }
    policies.onReloaded(null);
    exec.shutdownNow();
    metrics.close();
    HazelcastInstance h = hz;
    if (h == null) return Future.succeededFuture();
    return vertx.executeBlocking(
        () -> {
          h.shutdown();
          return null;
        },
        false);
  }

  /** Cluster meters ({@code kvgate_cluster_*}). */
  static final class Metrics {
    private final MeterRegistry registry;
    private final List<io.micrometer.core.instrument.Meter> meters = new ArrayList<>();
    final Timer propagation;
    final Counter gaps;
    final Counter duplicates;
    final Counter malformed;
    final Counter unknownTargets;
    final Counter deltasApplied;
    final Counter snapshotsAsked;
    final Counter snapshotsServed;
    final Counter snapshotBlocks;
    final Counter routedShipped;
    final Counter merges;
    final Counter bytesReceived;
    private final Map<String, Counter[]> sent = new java.util.concurrent.ConcurrentHashMap<>();
    private final Map<String, Counter> resyncs = new java.util.concurrent.ConcurrentHashMap<>();

    Metrics(MeterRegistry registry, ClusterNode node) {
      this.registry = registry;
      propagation =
          add(
              Timer.builder("kvgate_cluster_propagation")
                  .description(
                      "From an index write on one gateway (a routing decision, an engine event) to"
                          + " its application on a peer, per write (wall clocks; one host's or"
                          + " synchronised hosts')")
                  .publishPercentileHistogram()
                  .minimumExpectedValue(Duration.ofMillis(1))
                  .maximumExpectedValue(Duration.ofSeconds(10))
                  .register(registry));
      gaps = counter("kvgate_cluster_sequence_gaps", "Index write batches found missing");
      duplicates = counter("kvgate_cluster_duplicate_batches", "Index write batches seen twice");
      malformed = counter("kvgate_cluster_malformed_messages", "Cluster messages not understood");
      unknownTargets =
          counter(
              "kvgate_cluster_unknown_endpoints",
              "Shipped writes or snapshot parts naming a (model, endpoint) this gateway lacks");
      deltasApplied =
          counter("kvgate_cluster_batches_applied", "Peers' index write batches applied");
      snapshotsAsked = counter("kvgate_cluster_snapshots_requested", "Snapshots asked of peers");
      snapshotsServed = counter("kvgate_cluster_snapshots_served", "Snapshots sent to peers");
      snapshotBlocks = counter("kvgate_cluster_snapshot_blocks", "Blocks merged from snapshots");
      routedShipped =
          counter("kvgate_cluster_routed_writes_shipped", "Routing decisions shipped to peers");
      merges = counter("kvgate_cluster_merges", "Split-brain merges this member went through");
      bytesReceived = counter("kvgate_cluster_received_bytes", "Cluster message bytes received");
      add(
          Gauge.builder("kvgate_cluster_members", node, n -> n.members.size())
              .description("Gateways in this gateway's cluster view, itself included")
              .register(registry));
      add(
          Gauge.builder("kvgate_cluster_caught_up", node, n -> n.caughtUp ? 1 : 0)
              .description("1 once this gateway caught up with its peers' index (or has none)")
              .register(registry));
      add(
          Gauge.builder("kvgate_cluster_outbox_writes", node, n -> n.outbox.size())
              .description("Index writes queued for the next batch")
              .register(registry));
      add(
          io.micrometer.core.instrument.FunctionCounter.builder(
                  "kvgate_cluster_outbox_dropped", node, n -> n.outbox.dropped())
              .description("Index writes dropped from a full outbox (peers resync)")
              .register(registry));
    }

    private <M extends io.micrometer.core.instrument.Meter> M add(M m) {
      meters.add(m);
      return m;
    }

    private Counter counter(String name, String help) {
      return add(Counter.builder(name).description(help).register(registry));
    }

    void sent(String type, int bytes) {
      Counter[] c =
          sent.computeIfAbsent(
              type,
              t ->
                  new Counter[] {
                    add(
                        Counter.builder("kvgate_cluster_sent_messages")
                            .description("Cluster messages published, by type")
                            .tag("type", t)
                            .register(registry)),
                    add(
                        Counter.builder("kvgate_cluster_sent_bytes")
                            .description("Cluster message bytes published, by type")
                            .tag("type", t)
                            .register(registry))
                  });
      c[0].increment();
      c[1].increment(bytes);
    }

    void received(int bytes) {
      bytesReceived.increment(bytes);
    }

    void resync(String reason) {
      resyncs
          .computeIfAbsent(
              reason,
              r ->
                  add(
                      Counter.builder("kvgate_cluster_resyncs")
                          .description("Snapshots asked to repair a gap, by reason")
                          .tag("reason", r)
                          .register(registry)))
          .increment();
    }

    void caughtUp(String outcome) {
      add(Counter.builder("kvgate_cluster_catch_ups")
              .description("Catch-ups at join, by outcome (snapshot, no peers, timed out)")
              .tag("outcome", outcome.replace(' ', '_'))
              .register(registry))
          .increment();
    }

    void close() {
      meters.forEach(registry::remove);
    }
  }
}
