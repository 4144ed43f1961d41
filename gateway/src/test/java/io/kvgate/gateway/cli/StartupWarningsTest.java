package io.kvgate.gateway.cli;

import static io.kvgate.gateway.TestSupport.*;
import static org.junit.jupiter.api.Assertions.*;

import io.kvgate.gateway.demo.Demo;
import io.kvgate.sim.SimEngineConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.vertx.core.Vertx;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import java.util.logging.SimpleFormatter;
import org.junit.jupiter.api.Test;

/**
 * {@code kvgate demo}'s start-up path (the CLI's registry and metrics-enabled Vert.x, the demo
 * fleet and gateway, one request) logs nothing from Micrometer about kvgate's meters: no filter
 * configured after a meter exists, no meter of ours registered twice.
 *
 * <p>Micrometer reports a second registration at WARNING once per JVM and at FINE after that, so
 * this listens at every level. Vert.x's own {@code vertx.*} gauges are left out: vertx-micrometer
 * registers them again for every connection and request by design
 * (vert-x3/vertx-micrometer-metrics#259, micrometer-metrics/micrometer#6931).
 */
class StartupWarningsTest {

  @Test
  void demoStartsWithoutMicrometerWarningsAboutOurMeters() throws Exception {
    Logger micrometer = Logger.getLogger("io.micrometer");
    Level saved = micrometer.getLevel();
    List<String> messages = new CopyOnWriteArrayList<>();
    Handler handler =
        new Handler() {
          @Override
          public void publish(LogRecord r) {
            messages.add(r.getLevel() + " " + new SimpleFormatter().formatMessage(r));
          }

          @Override
          public void flush() {}

          @Override
          public void close() {}
        };
    micrometer.setLevel(Level.ALL);
    micrometer.addHandler(handler);
    PrometheusMeterRegistry registry = CliRuntime.registry();
    Vertx vertx = CliRuntime.vertx(registry);
    try {
      SimEngineConfig engine = SimEngineConfig.builder().model("m").speed(100).build();
      Demo demo = await(Demo.start(vertx, registry, engine, 2, 0, "127.0.0.1", 0, "cache-aware"));
      try {
        assertEquals(
            200,
            post(demo.gateway().port(), "/v1/chat/completions", chat("m", "hi", 4, false))
                .statusCode());
        assertTrue(registry.scrape().contains("kvgate_endpoint_healthy"));
      } finally {
        await(demo.close());
      }
    } finally {
      await(vertx.close());
      micrometer.removeHandler(handler);
      micrometer.setLevel(saved);
    }
    List<String> ours =
        messages.stream()
            .filter(m -> m.contains("MeterFilter") || m.contains("already registered"))
            .filter(m -> !m.contains("MeterId{name='vertx."))
            .toList();
    assertEquals(List.of(), ours);
  }
}
