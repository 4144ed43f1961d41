package io.kvgate.replay;

import static org.junit.jupiter.api.Assertions.*;

import io.kvgate.replay.GatewayLauncher.PdProtocol;
import io.kvgate.sim.Role;
import io.kvgate.sim.SimEngineConfig;
import io.vertx.core.Future;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpClient;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.http.RequestOptions;
import io.vertx.core.json.JsonObject;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A tiny trace through an aggregated and a 1 prefill + 1 decode fleet, behind a test-only proxy
 * that speaks vLLM's two-leg protocol (standing in for the gateway module): the launcher receives
 * each engine's role and the P/D settings, the engines really have those roles (a prefill leg sent
 * to a decode engine, or the reverse, is refused), and the report carries TTFT and ITL per cell.
 */
class PdReplayEndToEndTest {

  static final int REQUESTS = 12;
  static final int OUTPUT = 6;

  /** The specs the launcher was given, in order. */
  final List<GatewayLauncher.Spec> specs = new CopyOnWriteArrayList<>();

  /** A proxy: whole requests round-robin on an aggregated fleet, vLLM's two legs on a P/D one. */
  final GatewayLauncher proxy =
      (vertx, spec) -> {
        specs.add(spec);
        HttpClient client = vertx.createHttpClient();
        HttpServer server =
            vertx
                .createHttpServer()
                .requestHandler(
                    req ->
                        req.body()
                            .compose(body -> serve(client, spec, req, body.toJsonObject()))
                            .onFailure(
                                e -> {
                                  if (!req.response().ended())
                                    req.response().setStatusCode(502).end(e.toString());
                                }));
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

  private static Future<Void> serve(
      HttpClient client, GatewayLauncher.Spec spec, HttpServerRequest req, JsonObject body) {
    if (spec.pd() == null) {
      List<String> urls = spec.urls();
      return relay(client, urls.get(Math.floorMod(body.hashCode(), urls.size())), req, body, null);
    }
    String p = spec.urls(Role.PREFILL).get(0);
    String d = spec.urls(Role.DECODE).get(0);
    JsonObject leg =
        body.copy()
            .put("stream", false)
            .put("max_tokens", 1)
            .put(
                "kv_transfer_params",
                new JsonObject().put("do_remote_decode", true).put("do_remote_prefill", false));
    leg.remove("stream_options");
    return post(client, p, req.path(), leg)
        .compose(
            resp ->
                resp.statusCode() == 200
                    ? resp.body()
                    : Future.failedFuture("prefill leg: HTTP " + resp.statusCode()))
        .compose(
            b -> {
              JsonObject params = b.toJsonObject().getJsonObject("kv_transfer_params");
              return relay(
                  client, d, req, body.copy().put("kv_transfer_params", params), hostPort(p));
            });
  }

  private static Future<io.vertx.core.http.HttpClientResponse> post(
      HttpClient client, String url, String path, JsonObject body) {
    URI u = URI.create(url);
    return client
        .request(
            new RequestOptions()
                .setMethod(HttpMethod.POST)
                .setHost(u.getHost())
                .setPort(u.getPort())
                .setURI(path)
                .putHeader("content-type", "application/json"))
        .compose(r -> r.send(Buffer.buffer(body.encode())));
  }

  private static Future<Void> relay(
      HttpClient client, String url, HttpServerRequest req, JsonObject body, String prefill) {
    return post(client, url, req.path(), body)
        .compose(
            resp -> {
              req.response().setStatusCode(resp.statusCode());
              req.response().headers().setAll(resp.headers());
              req.response().putHeader("x-kvgate-endpoint", hostPort(url));
              if (prefill != null) req.response().putHeader("x-kvgate-prefill-endpoint", prefill);
              return resp.pipeTo(req.response());
            });
  }

  private static String hostPort(String url) {
    URI u = URI.create(url);
    return u.getHost() + ":" + u.getPort();
  }

  @Test
  void aTinyTraceCompletesOnAnAggregatedAndAOnePlusOneFleet(@TempDir Path dir) throws Exception {
    Path trace = dir.resolve("tiny.jsonl");
    List<String> lines = new ArrayList<>();
    for (int i = 0; i < REQUESTS; i++) {
      // 1,200-token prompts: three 512-token blocks, the first shared by all.
      lines.add(
          String.format(
              "{\"timestamp\": %d, \"input_length\": 1200, \"output_length\": %d, \"hash_ids\": [0, %d, %d]}",
              i * 100, OUTPUT, 2 * i + 1, 2 * i + 2));
    }
    Files.write(trace, lines);
    SimEngineConfig engine = SimEngineConfig.defaults().withSpeed(20);
    ReplayOptions o =
        new ReplayOptions(trace, List.of("p"), 2, engine, 0, 0, 100, 0, 1, dir.resolve("out"), 2)
            .withFleets(List.of(Fleet.parse("both=2"), Fleet.parse("prefill=1+decode=1")))
            .withPd(PdProtocol.VLLM, List.of(0L))
            .withRateScale(2);
    ReplayReport r = Replay.run(o, proxy, new PrintStream(new ByteArrayOutputStream()));

    // Warm-ups (one per layout), then the two measured cells.
    assertEquals(4, specs.size());
    GatewayLauncher.Spec pd = specs.get(3);
    assertEquals(
        List.of(Role.PREFILL, Role.DECODE), pd.engines().stream().map(e -> e.role()).toList());
    assertEquals(new GatewayLauncher.Pd(PdProtocol.VLLM, 0), pd.pd());
    assertEquals("p", pd.policy());
    assertNull(specs.get(2).pd());
    assertEquals(
        List.of(Role.BOTH, Role.BOTH), specs.get(2).engines().stream().map(e -> e.role()).toList());

    assertEquals(2, r.results().size());
    assertEquals(2.0, r.rateScale());
    for (PolicyResult p : r.results()) {
      assertEquals(0, p.errors(), p.cell());
      assertEquals(REQUESTS, p.requests());
      assertTrue(p.ttftP50Ms() > 0, p.cell());
      // Every token after the first is one gap.
      assertEquals((long) REQUESTS * (OUTPUT - 1), p.itlGaps(), p.cell());
      assertFalse(Double.isNaN(p.itlP50Ms()), p.cell());
      assertTrue(p.itlP99Ms() >= p.itlP50Ms(), p.cell());
      assertFalse(Double.isNaN(p.itlRequestP99MedianMs()), p.cell());
    }
    PolicyResult agg = r.results().get(0);
    PolicyResult dis = r.results().get(1);
    assertEquals("both=2 p", agg.cell());
    assertEquals(0, agg.disaggregated());
    assertEquals("prefill=1+decode=1 p min=0", dis.cell());
    assertEquals(REQUESTS, dis.disaggregated());
    // The prefill engine did the prefill work; the decode engine recomputed one token a request.
    assertEquals(REQUESTS, dis.prefillPerEngine().get(1));
    assertTrue(dis.hitRate() > 0 && dis.hitRate() < 1, "hit rate " + dis.hitRate());

    Path out = dir.resolve("out");
    String table = ReportWriter.table(r);
    assertTrue(table.contains("ITL p99") && table.contains("prefill=1+decode=1 p min=0"), table);
    assertTrue(
        Files.readString(out.resolve("report.md")).contains("| prefill=1+decode=1 p min=0 |"));
    assertTrue(Files.readString(out.resolve("itl-cdf.svg")).startsWith("<svg"));
    List<String> csv = Files.readAllLines(out.resolve("requests-prefill_1_decode_1-p-min0.csv"));
    assertEquals(REQUESTS + 1, csv.size());
    assertTrue(
        csv.get(0)
            .endsWith("prefill_endpoint,content_events,itl_p50_ms,itl_p99_ms,itl_max_ms,direct"));
    String[] f = csv.get(1).split(",");
    assertEquals(hostPort(pd.urls(Role.PREFILL).get(0)), f[8]);
    assertEquals(hostPort(pd.urls(Role.DECODE).get(0)), f[4]);
    assertEquals(Integer.toString(OUTPUT), f[9]);
  }
}
