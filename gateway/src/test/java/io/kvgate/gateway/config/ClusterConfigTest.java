package io.kvgate.gateway.config;

import static org.junit.jupiter.api.Assertions.*;

import io.kvgate.routing.config.ConfigException;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The {@code cluster:} section of gateway.yaml: what it parses into, and what it refuses. */
class ClusterConfigTest {

  static final String MODELS = "models: [{name: a, endpoints: [{url: \"http://h:1\"}]}]\n";

  static GatewayConfig.Cluster parse(String rest) throws ConfigException {
    return GatewayConfigLoader.parse(MODELS + rest, "t.yaml").cluster();
  }

  /** The problems {@code rest} (YAML after the models) is refused with. */
  static List<String> refusals(String rest) {
    ConfigException e =
        assertThrows(
            ConfigException.class,
            () -> GatewayConfigLoader.parse(MODELS + rest, "t.yaml"),
            "refused: " + rest);
    return GatewayConfigLoaderTest.problems(e);
  }

  /** Asserts {@code rest} is refused with exactly one problem, starting with {@code expected}. */
  static void refusedWith(String rest, String expected) {
    List<String> p = refusals(rest);
    assertEquals(1, p.size(), rest + " -> " + p);
    assertTrue(p.get(0).startsWith(expected), rest + " -> " + p);
  }

  @Test
  void aFullTcpIpSectionParsesIntoEveryValue() throws Exception {
    GatewayConfig.Cluster c =
        parse(
            """
            cluster:
              enabled: true
              name: prod
              host: 10.0.0.1
              port: 5801
              join: tcp-ip
              members: ["10.0.0.1:5801", "10.0.0.2:5801", "gw-3.internal:5801"]
              gatewayId: gw-1
              publishInterval: 20ms
              heartbeat: 2s
              memberTimeout: 15s
              catchUpTimeout: 45s
              mergeDelay: 20s
            """);
    assertEquals(
        new GatewayConfig.Cluster(
            true,
            "prod",
            "10.0.0.1",
            5801,
            "tcp-ip",
            List.of("10.0.0.1:5801", "10.0.0.2:5801", "gw-3.internal:5801"),
            "224.2.2.3",
            54327,
            GatewayConfig.Kubernetes.NONE,
            "gw-1",
            Duration.ofMillis(20),
            Duration.ofSeconds(2),
            Duration.ofSeconds(15),
            Duration.ofSeconds(45),
            Duration.ofSeconds(20)),
        c);
  }

  @Test
  void enabledAndANameTakeEveryDefault() throws Exception {
    GatewayConfig.Cluster c = parse("cluster: {enabled: true, name: prod}\n");
    assertEquals(GatewayConfig.Cluster.OFF.on("prod", 5701, List.of()), c);
    assertEquals("127.0.0.1", c.host());
    assertEquals("tcp-ip", c.join());
    assertNull(c.gatewayId(), "a fresh id at each start");
    assertEquals(Duration.ofMillis(10), c.publishInterval());
    assertEquals(Duration.ofSeconds(1), c.heartbeat());
    assertEquals(Duration.ofSeconds(10), c.memberTimeout());
    assertEquals(Duration.ofSeconds(30), c.catchUpTimeout());
    assertEquals(Duration.ofSeconds(10), c.mergeDelay());
  }

  @Test
  void theSectionTurnsClusteringOnUnlessItSaysOtherwise() throws Exception {
    assertEquals(GatewayConfig.Cluster.OFF, parse(""), "no section: off");
    assertTrue(parse("cluster: {name: prod}\n").enabled(), "a section: on");
    assertTrue(parse("cluster: {}\n").enabled(), "an empty section: on, all defaults");
    GatewayConfig.Cluster off = parse("cluster: {enabled: false, name: prod, port: 5801}\n");
    assertFalse(off.enabled());
    assertEquals("prod", off.name(), "the keys are still read");
    assertEquals(5801, off.port());
  }

  @Test
  void multicastTakesItsGroupAndPort() throws Exception {
    GatewayConfig.Cluster c =
        parse(
            """
            cluster:
              name: prod
              host: 0.0.0.0
              join: multicast
              multicast: {group: 224.2.2.4, port: 54400}
            """);
    assertTrue(c.enabled());
    assertEquals("multicast", c.join());
    assertEquals("0.0.0.0", c.host());
    assertEquals("224.2.2.4", c.multicastGroup());
    assertEquals(54400, c.multicastPort());
    assertEquals(List.of(), c.members());
    GatewayConfig.Cluster d = parse("cluster: {name: prod, join: multicast}\n");
    assertEquals("224.2.2.3", d.multicastGroup(), "Hazelcast's default group");
    assertEquals(54327, d.multicastPort(), "Hazelcast's default port");
  }

  @Test
  void kubernetesTakesAServiceDnsNameOrANamespaceAndServiceName() throws Exception {
    GatewayConfig.Cluster dns =
        parse(
            """
            cluster:
              name: prod
              host: 0.0.0.0
              join: kubernetes
              kubernetes: {serviceDns: kvgate-cluster.llm.svc.cluster.local}
            """);
    assertEquals("kubernetes", dns.join());
    assertEquals(
        new GatewayConfig.Kubernetes(null, null, "kvgate-cluster.llm.svc.cluster.local"),
        dns.kubernetes());
    GatewayConfig.Cluster api =
        parse(
            """
            cluster:
              name: prod
              host: 0.0.0.0
              join: kubernetes
              kubernetes: {namespace: llm, serviceName: kvgate-cluster}
            """);
    assertEquals(new GatewayConfig.Kubernetes("llm", "kvgate-cluster", null), api.kubernetes());
    GatewayConfig.Cluster podNamespace =
        parse("cluster: {join: kubernetes, kubernetes: {serviceName: kvgate-cluster}}\n");
    assertEquals(
        new GatewayConfig.Kubernetes(null, "kvgate-cluster", null),
        podNamespace.kubernetes(),
        "the namespace may be left to Hazelcast (the pod's own)");
  }

  @Test
  void eachRefusalNamesItsPath() {
    refusedWith(
        "cluster: {join: gossip}\n",
        "cluster.join: must be one of [tcp-ip, multicast, kubernetes], was 'gossip'");
    refusedWith("cluster: {foo: 1}\n", "cluster.foo: unknown key");
    refusedWith(
        "cluster: {join: multicast, multicast: {ttl: 3}}\n", "cluster.multicast.ttl: unknown key");
    refusedWith(
        "cluster: {join: kubernetes, kubernetes: {serviceDns: k, labels: x}}\n",
        "cluster.kubernetes.labels: unknown key");
    refusedWith("cluster: [1]\n", "cluster: must be a mapping");
    refusedWith("cluster: {enabled: yes please}\n", "cluster.enabled: must be true or false");
    refusedWith(
        "cluster: {members: [\"10.0.0.1:5701\", \"10.0.0.2\"]}\n",
        "cluster.members[1]: must be host:port with a port of 1..65535, was '10.0.0.2'");
    refusedWith("cluster: {members: [\"h:0\"]}\n", "cluster.members[0]: must be host:port");
    refusedWith("cluster: {members: [\"h:70000\"]}\n", "cluster.members[0]: must be host:port");
    refusedWith("cluster: {members: [\":5701\"]}\n", "cluster.members[0]: must be host:port");
    refusedWith("cluster: {members: \"h:5701\"}\n", "cluster.members: must be a list");
    refusedWith(
        "cluster: {join: multicast, members: [\"10.0.0.1:5701\"]}\n",
        "cluster.members: lists tcp-ip members, and join is 'multicast'");
    refusedWith(
        "cluster: {join: kubernetes, members: [\"10.0.0.1:5701\"], kubernetes: {serviceDns: k}}\n",
        "cluster.members: lists tcp-ip members, and join is 'kubernetes'");
    refusedWith(
        "cluster: {multicast: {group: 224.2.2.4}}\n",
        "cluster.multicast: configures multicast discovery, and join is 'tcp-ip'");
    refusedWith(
        "cluster: {join: multicast, kubernetes: {serviceDns: k}}\n",
        "cluster.kubernetes: configures Kubernetes discovery, and join is 'multicast'");
    refusedWith(
        "cluster: {join: kubernetes}\n",
        "cluster.kubernetes: needs serviceName (API discovery, with namespace) or serviceDns");
    refusedWith(
        "cluster: {join: kubernetes, kubernetes: {namespace: llm}}\n",
        "cluster.kubernetes: needs serviceName");
    refusedWith(
        "cluster: {join: kubernetes, kubernetes: {serviceName: s, serviceDns: k}}\n",
        "cluster.kubernetes.serviceDns: and serviceName are two discovery modes: give one");
    refusedWith("cluster: {port: 0}\n", "cluster.port: must be between 1 and 65535 (got 0)");
    refusedWith("cluster: {port: 70000}\n", "cluster.port: must be between 1 and 65535");
    refusedWith("cluster: {name: \"\"}\n", "cluster.name: must not be empty");
    refusedWith("cluster: {gatewayId: \" \"}\n", "cluster.gatewayId: must not be empty");
    refusedWith("cluster: {host: gw-1.internal}\n", "cluster.host: must be an IPv4 address");
    refusedWith("cluster: {host: \"::1\"}\n", "cluster.host: must be an IPv4 address");
    refusedWith("cluster: {host: 10.0.0.256}\n", "cluster.host: must be an IPv4 address");
    refusedWith("cluster: {host: 10.0.0}\n", "cluster.host: must be an IPv4 address");
  }

  @Test
  void theClusterPortMustNotBeAListenersPort() {
    refusedWith(
        "listener: {port: 5701}\ncluster: {name: prod}\n",
        "cluster.port: is taken by the API, admin or gRPC listener: pick another");
    refusedWith(
        "cluster: {port: 8081}\n", "cluster.port: is taken by the API, admin or gRPC listener");
    refusedWith(
        "grpc: {port: 5701}\ncluster: {name: prod}\n",
        "cluster.port: is taken by the API, admin or gRPC listener");
  }

  @Test
  void aPortOrDiscoveryModeIsOnlyCheckedWhenClusteringIsOn() throws Exception {
    assertFalse(
        parse("admin: {enabled: false}\ncluster: {enabled: false, port: 8080}\n").enabled());
    assertFalse(parse("cluster: {enabled: false, join: kubernetes}\n").enabled());
    assertEquals(
        8081,
        parse("admin: {enabled: false}\ncluster: {port: 8081}\n").port(),
        "the admin port is free when the admin listener is off");
  }

  @Test
  void timingsAreBounded() throws Exception {
    refusedWith(
        "cluster: {publishInterval: 0.5ms}\n",
        "cluster.publishInterval: must be between 1ms and 1s");
    refusedWith(
        "cluster: {publishInterval: 1.5s, heartbeat: 2s}\n",
        "cluster.publishInterval: must be between 1ms and 1s");
    refusedWith("cluster: {publishInterval: 0ms}\n", "cluster.publishInterval: must be greater");
    refusedWith(
        "cluster: {publishInterval: 50ms, heartbeat: 20ms}\n",
        "cluster.heartbeat: must be at least publishInterval");
    refusedWith(
        "cluster: {memberTimeout: 1s}\n",
        "cluster.memberTimeout: must be at least 2s (members send heartbeats every second)");
    refusedWith("cluster: {mergeDelay: 500ms}\n", "cluster.mergeDelay: must be at least 1s");
    refusedWith("cluster: {catchUpTimeout: soon}\n", "cluster.catchUpTimeout: must be a duration");

    GatewayConfig.Cluster edges =
        parse(
            "cluster: {publishInterval: 1s, heartbeat: 1s, memberTimeout: 2s, mergeDelay: 1s,"
                + " catchUpTimeout: 1ms}\n");
    assertEquals(Duration.ofSeconds(1), edges.publishInterval());
    assertEquals(Duration.ofSeconds(1), edges.heartbeat());
    assertEquals(Duration.ofSeconds(2), edges.memberTimeout());
    assertEquals(Duration.ofSeconds(1), edges.mergeDelay());
    assertEquals(Duration.ofMillis(1), edges.catchUpTimeout());
    assertEquals(
        Duration.ofMillis(1), parse("cluster: {publishInterval: 1ms}\n").publishInterval());
  }

  @Test
  void aNonStringMemberIsReportedAtItsOwnIndex() {
    List<String> p = refusals("cluster: {members: [\"a:1\", 5, \"b:x\"]}\n");
    assertEquals(
        List.of(
            "cluster.members[1]: must be a string (host:port)",
            "cluster.members[2]: must be host:port with a port of 1..65535, was 'b:x'"),
        p);
  }

  @Test
  void everyProblemOfTheSectionIsReportedAtOnce() {
    List<String> p =
        refusals(
            """
            cluster:
              join: multicast
              members: ["h"]
              port: 8080
              heartbeat: 1ms
              mergeDelay: 10ms
              extra: true
            """);
    for (String path :
        List.of(
            "cluster.extra:",
            "cluster.members[0]:",
            "cluster.members:",
            "cluster.port:",
            "cluster.heartbeat:",
            "cluster.mergeDelay:")) {
      assertTrue(p.stream().anyMatch(s -> s.startsWith(path)), path + " in " + p);
    }
  }
}
