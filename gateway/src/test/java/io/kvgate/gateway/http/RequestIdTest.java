package io.kvgate.gateway.http;

import static org.junit.jupiter.api.Assertions.*;

import java.util.HashSet;
import java.util.Set;
import java.util.UUID;
import org.junit.jupiter.api.Test;

/** The ids kvgate gives requests that bring none are random version-4 UUIDs. */
class RequestIdTest {

  @Test
  void idsAreVersionFourUuidsAndDistinct() {
    Set<String> seen = new HashSet<>();
    for (int i = 0; i < 20_000; i++) {
      String id = GatewayRoutes.newRequestId();
      UUID u = UUID.fromString(id);
      assertEquals(4, u.version(), id);
      assertEquals(2, u.variant(), id);
      assertEquals(id, u.toString());
      assertTrue(seen.add(id), "repeated " + id);
    }
  }
}
