package io.kvgate.sim;

import io.vertx.core.buffer.Buffer;
import io.vertx.core.net.PemKeyCertOptions;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.Objects;

/**
 * How a simulated engine serves https ({@link SimEngineConfig#tls()}): with the self-signed
 * certificate bundled with engine-sim, or with a PEM certificate and key read from files.
 *
 * <p>The bundled certificate is issued to {@code localhost} and {@code 127.0.0.1} (subject
 * alternative names), self-signed, valid until 2126; its key is committed and not a secret. A
 * client trusts it with {@link #bundledCertificatePem()}, e.g. Vert.x {@code new
 * PemTrustOptions().addCertValue(SimTls.bundledCertificatePem())}.
 */
public final class SimTls {

  private static final SimTls BUNDLED = new SimTls(null, null);

  private final Path certFile;
  private final Path keyFile;

  private SimTls(Path certFile, Path keyFile) {
    this.certFile = certFile;
    this.keyFile = keyFile;
  }

  /** The bundled self-signed certificate for {@code localhost} and {@code 127.0.0.1}. */
  public static SimTls bundled() {
    return BUNDLED;
  }

  /**
   * A PEM certificate (chain) and its PEM private key (PKCS#8), read when the engine starts; a
   * missing or unreadable file fails {@link SimEngine#start}.
   */
  public static SimTls pemFiles(Path certFile, Path keyFile) {
    return new SimTls(
        Objects.requireNonNull(certFile, "certFile"), Objects.requireNonNull(keyFile, "keyFile"));
  }

  /** The bundled certificate, PEM-encoded: what a client trusts to talk to a bundled engine. */
  public static Buffer bundledCertificatePem() {
    return Buffer.buffer(resource("tls/localhost-cert.pem"));
  }

  /** The bundled certificate's private key, PEM-encoded PKCS#8. */
  static Buffer bundledKeyPem() {
    return Buffer.buffer(resource("tls/localhost-key.pem"));
  }

  /** The server's key and certificate as Vert.x options. */
  PemKeyCertOptions keyCertOptions() {
    if (certFile == null) {
      return new PemKeyCertOptions()
          .setCertValue(bundledCertificatePem())
          .setKeyValue(bundledKeyPem());
    }
    return new PemKeyCertOptions()
        .setCertPath(certFile.toAbsolutePath().toString())
        .setKeyPath(keyFile.toAbsolutePath().toString());
  }

  private static byte[] resource(String name) {
    try (InputStream in = SimTls.class.getResourceAsStream(name)) {
      if (in == null) throw new IllegalStateException("missing resource io/kvgate/sim/" + name);
      return in.readAllBytes();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof SimTls t
        && Objects.equals(certFile, t.certFile)
        && Objects.equals(keyFile, t.keyFile);
  }

  @Override
  public int hashCode() {
    return Objects.hash(certFile, keyFile);
  }

  @Override
  public String toString() {
    return certFile == null
        ? "SimTls[bundled]"
        : "SimTls[cert=" + certFile + ", key=" + keyFile + "]";
  }
}
