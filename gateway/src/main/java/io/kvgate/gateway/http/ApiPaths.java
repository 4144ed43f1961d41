package io.kvgate.gateway.http;

import io.kvgate.gateway.config.GatewayConfig;
import io.kvgate.gateway.openai.OpenAiException;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;

/**
 * Which request targets kvgate accepts, and which POST paths it forwards to engines.
 *
 * <p>A request target must be in origin form ({@code /path?query}): absolute-form ({@code POST
 * http://host/...}) and authority-form targets are refused. A path to be forwarded must be
 * normalised ({@code .} or {@code ..} segments, raw or percent-encoded, empty segments, backslashes
 * and encoded slashes are refused): an endpoint URL with a base path must not be escaped by {@code
 * /../admin}.
 *
 * <p>Only the inference APIs below are forwarded, plus the config's {@code api.extraPaths}: the
 * OpenAI paths and vLLM's and SGLang's own inference paths that name a model in a JSON body. An
 * engine's administration paths ({@code /reset_prefix_cache}, {@code /sleep}, {@code /wake_up},
 * {@code /collective_rpc}, {@code /v1/load_lora_adapter}, {@code /start_profile}, ...) are never
 * reachable through the gateway.
 */
public final class ApiPaths {

  /** The POST paths forwarded without configuration. */
  public static final List<String> BUILT_IN =
      List.of(
          "/v1/chat/completions",
          "/v1/completions",
          "/v1/embeddings",
          "/v1/responses",
          "/v1/score",
          "/v1/rerank",
          "/score",
          "/rerank",
          "/pooling",
          "/classify",
          "/tokenize",
          "/detokenize");

  private final Set<String> forwarded;

  public ApiPaths(List<String> extraPaths) {
    Set<String> all = new TreeSet<>(BUILT_IN);
    all.addAll(extraPaths);
    this.forwarded = Set.copyOf(all);
  }

  /** True if a POST to {@code path} (already checked by {@link #check}) is forwarded. */
  public boolean forwards(String path) {
    return forwarded.contains(path);
  }

  /** The forwarded paths, sorted, for error messages. */
  public String describe() {
    return String.join(", ", new TreeSet<>(forwarded));
  }

  /**
   * Refuses a request target that is not in origin form ({@code /path?query}).
   *
   * @throws OpenAiException 400
   */
  public static void checkOriginForm(String uri) {
    if (uri == null || !uri.startsWith("/")) {
      throw OpenAiException.badRequest(
          null,
          "the request target must be a path such as /v1/chat/completions (got '" + uri + "')");
    }
  }

  /**
   * Refuses a path to be forwarded that is not normalised, so that no path reaches an engine
   * outside the endpoint's base path.
   *
   * @throws OpenAiException 400 {@code invalid_path}
   */
  public static void checkNormalised(String path) {
    String problem = GatewayConfig.Api.pathProblem(path);
    if (problem != null) {
      throw new OpenAiException(
          400, "invalid_request_error", null, "invalid_path", "the path '" + path + "' " + problem);
    }
  }
}
