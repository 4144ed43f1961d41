package io.kvgate.load;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The knobs every simulation shares, read once from system properties (the load-tests pom passes
 * each Maven property through as {@code -Dname=value}).
 */
record LoadSettings(
    String baseUrl,
    String model,
    String apiKey,
    double rate,
    int users,
    int durationSeconds,
    int tenants,
    int systemPromptChars,
    int turns,
    int maxTokens,
    double maxErrorPercent,
    int p95Millis,
    int ttftP95Millis) {

  static LoadSettings fromSystemProperties() {
    String baseUrl = prop("baseUrl", "http://127.0.0.1:8080");
    String model = prop("model", "");
    if (model.isBlank()) model = firstServedModel(baseUrl);
    return new LoadSettings(
        baseUrl,
        model,
        prop("apiKey", "none"),
        Double.parseDouble(prop("rate", "10")),
        Integer.parseInt(prop("users", "20")),
        Integer.parseInt(prop("durationSeconds", "30")),
        Integer.parseInt(prop("tenants", "8")),
        Integer.parseInt(prop("systemPromptChars", "8000")),
        Integer.parseInt(prop("turns", "4")),
        Integer.parseInt(prop("maxTokens", "32")),
        Double.parseDouble(prop("maxErrorPercent", "1")),
        Integer.parseInt(prop("p95Millis", "10000")),
        Integer.parseInt(prop("ttftP95Millis", "5000")));
  }

  private static String prop(String name, String dflt) {
    String v = System.getProperty(name);
    return v == null || v.isBlank() ? dflt : v;
  }

  private static final Pattern MODEL_ID = Pattern.compile("\"id\"\\s*:\\s*\"([^\"]+)\"");

  /**
   * Asks the gateway which models it serves and takes the first, so the default run needs no flags.
   */
  static String firstServedModel(String baseUrl) {
    try {
      HttpClient client = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
      HttpResponse<String> r =
          client.send(
              HttpRequest.newBuilder(URI.create(baseUrl + "/v1/models"))
                  .timeout(Duration.ofSeconds(10))
                  .build(),
              HttpResponse.BodyHandlers.ofString());
      Matcher m = MODEL_ID.matcher(r.body());
      if (r.statusCode() == 200 && m.find()) return m.group(1);
      throw new IllegalStateException(
          "GET " + baseUrl + "/v1/models answered " + r.statusCode() + ": " + r.body());
    } catch (java.io.IOException e) {
      throw new IllegalStateException(
          "no gateway at "
              + baseUrl
              + " (start one with `java -jar gateway/target/kvgate.jar demo`, or pass -DbaseUrl=...)",
          e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    }
  }
}
