package io.kvgate.gateway.cli;

import io.kvgate.gateway.auth.KeyHash;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;
import java.util.Base64;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code kvgate hash-key}: the salted hash of a client API key, as an {@code auth.keys} entry, so
 * that the config never holds a key.
 */
@Command(
    name = "hash-key",
    mixinStandardHelpOptions = true,
    description = {
      "Print an auth.keys entry holding the salted hash of an API key.",
      "Reads the key from standard input (first line), or makes a new one with --generate",
      "(printed once on standard error: hand it to the client, it is not stored anywhere)."
    })
public final class HashKeyCommand implements Callable<Integer> {

  @Option(names = "--generate", description = "Make a new random key (32 bytes, base64url).")
  boolean generate;

  @Option(names = "--name", description = "The key's name (default: ${DEFAULT-VALUE}).")
  String name = "my-key";

  @Option(names = "--tenant", description = "The key's tenant (default: ${DEFAULT-VALUE}).")
  String tenant = "default";

  @Override
  public Integer call() throws Exception {
    String key;
    if (generate) {
      byte[] bytes = new byte[32];
      new SecureRandom().nextBytes(bytes);
      key = "kvg-" + Base64.getUrlEncoder().withoutPadding().encodeToString(bytes);
      System.err.println("new key (shown once): " + key);
    } else {
      key = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8)).readLine();
      if (key == null || key.strip().length() < 8) {
        System.err.println(
            "hash-key: give the key on standard input (at least 8 characters), or --generate");
        return 2;
      }
      key = key.strip();
    }
    System.out.printf(
        "  - name: %s%n    tenant: %s%n    hash: \"%s\"%n", name, tenant, KeyHash.of(key));
    return 0;
  }
}
