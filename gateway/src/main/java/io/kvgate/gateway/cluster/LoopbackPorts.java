package io.kvgate.gateway.cluster;

import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Loopback ports for members started in-process (the replay's clustered cells, tests). A port the
 * kernel hands out for {@code bind(0)} lies in the ephemeral range, where any outgoing connection
 * made between the probe and the member's own bind may take it; these come from below that range
 * (20000-32767; Linux's ephemeral range starts at 32768) and were free when probed.
 */
public final class LoopbackPorts {

  private LoopbackPorts() {}

  /** {@code n} distinct ports below the ephemeral range, each free when probed. */
  public static List<Integer> pick(int n) throws IOException {
    List<Integer> out = new ArrayList<>();
    ThreadLocalRandom r = ThreadLocalRandom.current();
    for (int tries = 0; out.size() < n; tries++) {
      if (tries > 1000) throw new IOException("no free loopback port in 20000-32767");
      int p = 20_000 + r.nextInt(12_768);
      if (out.contains(p)) continue;
      try (ServerSocket s = new ServerSocket(p, 1, InetAddress.getLoopbackAddress())) {
        out.add(p);
      } catch (IOException taken) {
        // try another
      }
    }
    return out;
  }
}
