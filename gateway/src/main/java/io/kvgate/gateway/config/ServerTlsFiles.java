package io.kvgate.gateway.config;

import io.kvgate.routing.config.ConfigNode;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.PrivateKey;
import java.security.SecureRandom;
import java.security.Signature;
import java.security.cert.CertificateException;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.security.spec.PKCS8EncodedKeySpec;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Reads and checks a listener's {@code tls: {certFile, keyFile}} mapping ({@link
 * GatewayConfig.ServerTls}): both files readable, the certificate file a PEM X.509 chain, the key
 * file one unencrypted PEM private key ({@code PRIVATE KEY}, {@code RSA PRIVATE KEY} or {@code EC
 * PRIVATE KEY}, what Vert.x reads) and, for PKCS#8 and PKCS#1 keys, the private key of the first
 * certificate (a signature made with it verifies with the certificate's public key). So a listener
 * that would fail its first handshake is refused at load, with the file named.
 */
public final class ServerTlsFiles {

  private static final Pattern PEM_BEGIN = Pattern.compile("-----BEGIN ([A-Z0-9 ]+)-----");

  private ServerTlsFiles() {}

  /** The settings of {@code t}, or null with problems reported at their YAML paths. */
  public static GatewayConfig.ServerTls read(ConfigNode t) {
    t.allowOnly("certFile", "keyFile");
    String cert = t.string("certFile", null, true);
    String key = t.string("keyFile", null, true);
    if (cert == null || key == null) return null;
    List<String[]> problems = check(cert, key);
    for (String[] p : problems) t.problem(p[0], p[1]);
    return problems.isEmpty() ? new GatewayConfig.ServerTls(cert, key) : null;
  }

  /**
   * What is wrong with the pair, as {@code [key, message]} entries ({@code key} is {@code certFile}
   * or {@code keyFile}); empty when a listener can serve with them.
   */
  public static List<String[]> check(String certFile, String keyFile) {
    List<String[]> problems = new ArrayList<>();
    X509Certificate leaf = null;
    try {
      var certs =
          CertificateFactory.getInstance("X.509")
              .generateCertificates(
                  new ByteArrayInputStream(Files.readAllBytes(Path.of(certFile))));
      if (certs.isEmpty()) {
        problems.add(new String[] {"certFile", "'" + certFile + "' holds no certificate"});
      } else {
        leaf = (X509Certificate) certs.iterator().next();
      }
    } catch (IOException e) {
      problems.add(new String[] {"certFile", "cannot read '" + certFile + "'"});
    } catch (CertificateException e) {
      problems.add(
          new String[] {
            "certFile", "'" + certFile + "' is not a PEM certificate file: " + e.getMessage()
          });
    }
    String keyText;
    try {
      keyText = Files.readString(Path.of(keyFile), StandardCharsets.US_ASCII);
    } catch (IOException e) {
      problems.add(new String[] {"keyFile", "cannot read '" + keyFile + "'"});
      return problems;
    }
    Matcher m = PEM_BEGIN.matcher(keyText);
    String type = m.find() ? m.group(1) : null;
    if (type == null
        || !(type.equals("PRIVATE KEY")
            || type.equals("RSA PRIVATE KEY")
            || type.equals("EC PRIVATE KEY"))) {
      problems.add(
          new String[] {
            "keyFile",
            "'"
                + keyFile
                + "' holds no unencrypted PEM private key (-----BEGIN PRIVATE KEY-----, RSA PRIVATE"
                + " KEY or EC PRIVATE KEY)"
                + (type == null ? "" : "; found " + type)
          });
      return problems;
    }
    int end = keyText.indexOf("-----END " + type + "-----", m.end());
    byte[] der;
    try {
      if (end < 0) throw new IllegalArgumentException("no END line");
      der = Base64.getMimeDecoder().decode(keyText.substring(m.end(), end));
    } catch (IllegalArgumentException e) {
      problems.add(
          new String[] {
            "keyFile", "'" + keyFile + "' is not a well-formed PEM " + type + " block"
          });
      return problems;
    }
    if (leaf == null || type.equals("EC PRIVATE KEY")) return problems;
    try {
      byte[] pkcs8 = type.equals("RSA PRIVATE KEY") ? rsaPkcs1ToPkcs8(der) : der;
      String algorithm = leaf.getPublicKey().getAlgorithm();
      PrivateKey privateKey =
          KeyFactory.getInstance(algorithm).generatePrivate(new PKCS8EncodedKeySpec(pkcs8));
      if (!signsFor(privateKey, leaf)) {
        problems.add(
            new String[] {
              "keyFile",
              "'" + keyFile + "' is not the private key of the certificate in '" + certFile + "'"
            });
      }
    } catch (GeneralSecurityException | RuntimeException e) {
      problems.add(
          new String[] {
            "keyFile",
            "'"
                + keyFile
                + "' is not a private key for the certificate in '"
                + certFile
                + "' ("
                + e.getClass().getSimpleName()
                + ")"
          });
    }
    return problems;
  }

  /** Signs random bytes with the key and verifies them with the certificate's public key. */
  private static boolean signsFor(PrivateKey key, X509Certificate cert)
      throws GeneralSecurityException {
    String algorithm =
        switch (key.getAlgorithm()) {
          case "RSA" -> "SHA256withRSA";
          case "EC" -> "SHA256withECDSA";
          case "Ed25519", "Ed448", "EdDSA" -> key.getAlgorithm();
          default -> null;
        };
    if (algorithm == null) return true; // an algorithm not checked here: left to the handshake
    byte[] challenge = new byte[32];
    new SecureRandom().nextBytes(challenge);
    Signature signer = Signature.getInstance(algorithm);
    signer.initSign(key);
    signer.update(challenge);
    byte[] signature = signer.sign();
    Signature verifier = Signature.getInstance(algorithm);
    verifier.initVerify(cert.getPublicKey());
    verifier.update(challenge);
    return verifier.verify(signature);
  }

  /** Wraps a PKCS#1 RSAPrivateKey into a PKCS#8 PrivateKeyInfo. */
  private static byte[] rsaPkcs1ToPkcs8(byte[] pkcs1) {
    byte[] versionAndAlgorithm = {
      0x02,
      0x01,
      0x00, // version 0
      0x30,
      0x0d,
      0x06,
      0x09,
      0x2a,
      (byte) 0x86,
      0x48,
      (byte) 0x86,
      (byte) 0xf7,
      0x0d,
      0x01,
      0x01,
      0x01,
      0x05,
      0x00 // rsaEncryption, NULL
    };
    ByteArrayOutputStream octets = new ByteArrayOutputStream();
    octets.write(0x04);
    writeLength(octets, pkcs1.length);
    octets.writeBytes(pkcs1);
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    out.write(0x30);
    writeLength(out, versionAndAlgorithm.length + octets.size());
    out.writeBytes(versionAndAlgorithm);
    out.writeBytes(octets.toByteArray());
    return out.toByteArray();
  }

  private static void writeLength(ByteArrayOutputStream out, int length) {
    if (length < 0x80) {
      out.write(length);
      return;
    }
    int bytes = length > 0xffffff ? 4 : length > 0xffff ? 3 : length > 0xff ? 2 : 1;
    out.write(0x80 | bytes);
    for (int i = bytes - 1; i >= 0; i--) out.write(length >>> (8 * i));
  }
}
