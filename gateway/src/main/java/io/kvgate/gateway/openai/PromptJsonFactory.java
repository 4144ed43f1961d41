package io.kvgate.gateway.openai;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.io.IOContext;
import com.fasterxml.jackson.core.json.UTF8StreamJsonParser;
import java.io.IOException;

/**
 * Jackson's factory, except that a UTF-8 body in a byte array gets a {@link Parser} that can be
 * told a string token has already been read and validated (by {@link JsonStrings}), so it moves
 * past the token instead of scanning it a second time. Bodies that are not plain UTF-8 (a
 * byte-order mark, UTF-16 or UTF-32) and every other input go through Jackson's own detection and
 * parsers.
 */
final class PromptJsonFactory extends JsonFactory {

  private static final long serialVersionUID = 1L;

  @Override
  protected JsonParser _createParser(byte[] data, int offset, int len, IOContext ctxt)
      throws IOException {
    if (_inputDecorator != null || !plainUtf8Start(data, offset, len)) {
      return super._createParser(data, offset, len, ctxt);
    }
    return new Parser(
        ctxt,
        _parserFeatures,
        _objectCodec,
        _byteSymbolCanonicalizer.makeChildOrPlaceholder(_factoryFeatures),
        data,
        offset,
        offset + len);
  }

  /**
   * Jackson tells UTF-16 and UTF-32 from UTF-8 by zero bytes among the first four and by a
   * byte-order mark; a body whose first bytes are ASCII and not zero is UTF-8 without a mark.
   */
  private static boolean plainUtf8Start(byte[] data, int offset, int len) {
    for (int i = offset, end = offset + Math.min(4, len); i < end; i++) {
      if (data[i] <= 0) return false;
    }
    return true;
  }

  /** Jackson's UTF-8 parser, with a way past a string token read elsewhere. */
  static final class Parser extends UTF8StreamJsonParser {

    private int skipFrom = -1;
    private int skipTo = -1;

    Parser(
        IOContext ctxt,
        int features,
        com.fasterxml.jackson.core.ObjectCodec codec,
        com.fasterxml.jackson.core.sym.ByteQuadsCanonicalizer sym,
        byte[] data,
        int start,
        int end) {
      super(ctxt, features, null, codec, sym, data, start, end, false);
    }

    /**
     * Where the current string token's bytes start (just after its opening quote) in {@link
     * #input()}, or -1 when the current token is not an unread string.
     */
    int unreadStringStart() {
      return _tokenIncomplete ? _inputPtr : -1;
    }

    byte[] input() {
      return _inputBuffer;
    }

    int inputEnd() {
      return _inputEnd;
    }

    /**
     * The current string token, from {@link #unreadStringStart()} to {@code end} (just past its
     * closing quote), has been read and validated: skipping it moves there without a scan.
     */
    void stringRead(int end) {
      skipFrom = _inputPtr;
      skipTo = end;
    }

    @Override
    protected void _skipString() throws IOException {
      if (skipTo >= 0 && _inputPtr == skipFrom) {
        _tokenIncomplete = false;
        _inputPtr = skipTo;
        skipFrom = -1;
        skipTo = -1;
        return;
      }
      skipFrom = -1;
      skipTo = -1;
      super._skipString();
    }
  }
}
