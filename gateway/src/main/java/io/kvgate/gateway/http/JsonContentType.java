package io.kvgate.gateway.http;

import io.kvgate.gateway.openai.OpenAiException;
import java.util.Locale;

/**
 * The request body's declared media type: JSON ({@code application/json}, any {@code +json} type)
 * or none at all. Anything else (a form, multipart, plain text) is refused with 415, as the
 * engines' own servers do, instead of being parsed as JSON anyway: a browser form cannot then post
 * to the gateway.
 */
public final class JsonContentType {

  private JsonContentType() {}

  /** Throws 415 {@code unsupported_media_type} unless {@code header} is absent or JSON. */
  public static void check(String header) {
    if (header == null || header.isBlank()) return;
    int semi = header.indexOf(';');
    String type = (semi < 0 ? header : header.substring(0, semi)).trim().toLowerCase(Locale.ROOT);
    if (type.equals("application/json") || type.endsWith("+json") && type.indexOf('/') > 0) return;
    throw new OpenAiException(
        415,
        "invalid_request_error",
        null,
        "unsupported_media_type",
        "request body must be JSON (Content-Type: application/json), not '"
            + (type.length() > 100 ? type.substring(0, 100) + "..." : type)
            + "'");
  }
}
