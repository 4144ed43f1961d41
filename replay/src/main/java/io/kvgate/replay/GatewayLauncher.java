package io.kvgate.replay;

import io.vertx.core.Future;
import io.vertx.core.Vertx;
import java.util.List;

/**
 * Starts a gateway for one policy in front of the given engines. The gateway module provides the
 * real one ({@code kvgate replay}); the replay module does not depend on the gateway.
 */
@FunctionalInterface
public interface GatewayLauncher {

  Future<RunningGateway> start(Vertx vertx, String policy, String model, List<String> endpointUrls);

  /** A started gateway. */
  interface RunningGateway {
    String baseUrl();

    Future<Void> close();
  }
}
