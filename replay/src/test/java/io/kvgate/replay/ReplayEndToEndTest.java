package io.kvgate.replay;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.kvgate.sim.SimEngineConfig;
import io.vertx.core.Future;
import io.vertx.core.http.HttpClient;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.RequestOptions;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import javax.xml.parsers.DocumentBuilderFactory;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Drives the whole pipeline through a test-only round-robin HTTP proxy in front of a real SimFleet.
 */
class ReplayEndToEndTest {

  /** A real reverse proxy, round-robin over the engines: stands in for the gateway module. */
  static final GatewayLauncher ROUND_ROBIN_PROXY = proxy(new AtomicInteger());

  /** {@link #ROUND_ROBIN_PROXY}, counting the requests it receives in {@code received}. */
  static GatewayLauncher proxy(AtomicInteger received) {
    return (vertx, spec) -> {
      List<String> urls = spec.urls();
      HttpClient client = vertx.createHttpClient();
      AtomicInteger next = new AtomicInteger();
      HttpServer server =
          vertx
              .createHttpServer()
              .requestHandler(
                  req -> {
                    received.incrementAndGet();
                    URI target =
                        URI.create(urls.get(Math.floorMod(next.getAndIncrement(), urls.size())));
                    req.pause();
                    client
                        .request(
                            new RequestOptions()
                                .setMethod(req.method())
                                .setHost(target.getHost())
                                .setPort(target.getPort())
                                .setURI(req.uri())
                                .setHeaders(req.headers()))
                        .compose(
                            up ->
                                up.send(req)
                                    .compose(
                                        resp -> {
                                          req.response()
                                              .setStatusCode(resp.statusCode())
                                              .headers()
                                              .setAll(resp.headers());
                                          return resp.pipeTo(req.response());
                                        }))
                        .onFailure(
                            e -> {
                              if (!req.response().ended()) req.response().setStatusCode(502).end();
                            });
                  });
      return server
          .listen(0, "127.0.0.1")
          .map(
              s ->
                  new GatewayLauncher.RunningGateway() {
                    public String baseUrl() {
                      return "http://127.0.0.1:" + s.actualPort();
                    }

                    public Future<Void> close() {
                      return s.close().eventually(client::close);
                    }
                  });
    };
  }

  /** A tiny Mooncake trace: {@code n} requests 100 ms apart sharing a 1,024-token prefix. */
  static Path tinyTrace(Path dir, int n) throws java.io.IOException {
    List<String> lines = new java.util.ArrayList<>();
    for (int i = 0; i < n; i++)
      lines.add(
          String.format(
              "{\"timestamp\": %d, \"input_length\": 1200, \"output_length\": 4, \"hash_ids\": [0, 1, %d]}",
              i * 100, i + 2));
    Path trace = dir.resolve("tiny.jsonl");
    Files.write(trace, lines);
    return trace;
  }

  @Test
  void directRequestsBypassTheGatewayAndPreciseCellsNeedAnEventListener(@TempDir Path dir)
      throws Exception {
    int n = 40;
    ReplayOptions o =
        new ReplayOptions(
                tinyTrace(dir, n),
                List.of("rr"),
                2,
                SimEngineConfig.defaults().withSpeed(20),
                0,
                0,
                100,
                0,
                3,
                dir.resolve("out"),
                0)
            .withIndexStudy(List.of(GatewayLauncher.IndexMode.APPROXIMATE), 0.3, null);
    ReplayReport r = Replay.run(o, ROUND_ROBIN_PROXY, new PrintStream(new ByteArrayOutputStream()));
    PolicyResult p = r.results().get(0);
    long expected =
        java.util.Arrays.stream(Replay.directEngines(n, 2, 0.3, 3)).filter(e -> e >= 0).count();
    assertTrue(expected > 0 && expected < n, "the draw sends some, not all");
    assertEquals(expected, p.directRequests());
    assertEquals(0, p.errors());
    assertFalse(Double.isNaN(p.directTtftP50Ms()));
    assertEquals(n - expected, p.ttftSortedMs().length, "client latencies: gateway-routed only");
    List<String> csv = Files.readAllLines(dir.resolve("out/requests-rr.csv"));
    assertEquals(expected, csv.stream().skip(1).filter(l -> l.endsWith(",1")).count());
    assertTrue(Files.readString(dir.resolve("out/cells.csv")).startsWith("cell,fleet,policy"));
    assertTrue(ReportWriter.table(r).contains("30% of requests straight to the engines"));

    // the stand-in proxy has no KV event listener: a precise cell says so instead of measuring
    ReplayOptions precise = o.withIndexStudy(List.of(GatewayLauncher.IndexMode.PRECISE), 0, null);
    IllegalStateException e =
        assertThrows(
            IllegalStateException.class,
            () ->
                Replay.run(
                    precise, ROUND_ROBIN_PROXY, new PrintStream(new ByteArrayOutputStream())));
    assertTrue(e.getMessage().contains("KV event listener"), e.getMessage());
  }

  @Test
  void replaysThroughAProxyAndWritesReadableReports(@TempDir Path out) throws Exception {
    Path trace = Path.of("../../shared/traces/mooncake/synthetic_trace.jsonl");
    if (!Files.exists(trace)) trace = Path.of("../shared/traces/mooncake/synthetic_trace.jsonl");
    assumeTrue(Files.exists(trace), "synthetic trace not present");
    SimEngineConfig engine = SimEngineConfig.defaults().withSpeed(50);
    ReplayOptions o =
        new ReplayOptions(trace, List.of("round-robin"), 4, engine, 200, 32, 512, 0, 1, out);
    PrintStream progress = new PrintStream(new ByteArrayOutputStream());
    ReplayReport r = Replay.run(o, ROUND_ROBIN_PROXY, progress);
    assertEquals(200, r.records());
    PolicyResult p = r.results().get(0);
    assertEquals(0, p.errors());
    assertTrue(
        p.hitRate() > 0 && p.hitRate() <= r.oracleHitRate() + 1e-9, "hit rate " + p.hitRate());
    assertTrue(p.ttftP50Ms() > 0);
    for (String f : List.of("ttft-cdf.svg", "hit-rate.svg", "engine-load.svg")) {
      DocumentBuilderFactory.newInstance().newDocumentBuilder().parse(out.resolve(f).toFile());
    }
    assertTrue(Files.readString(out.resolve("report.md")).contains("round-robin"));
    assertTrue(Files.size(out.resolve("report.json")) > 0);
  }
}
