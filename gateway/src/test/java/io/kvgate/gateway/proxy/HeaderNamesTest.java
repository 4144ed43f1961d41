package io.kvgate.gateway.proxy;

import static org.junit.jupiter.api.Assertions.*;

import org.junit.jupiter.api.Test;

/** Header-name sets answer whatever the case, and only for their own names. */
class HeaderNamesTest {

  @Test
  void namesMatchWhateverTheirCaseAndNothingElseDoes() {
    HeaderNames s = new HeaderNames("connection", "te", "Content-Length", "host");
    for (String yes : new String[] {"connection", "Connection", "CONNECTION", "TE", "te", "Te"}) {
      assertTrue(s.contains(yes), yes);
    }
    assertTrue(s.contains("content-length"));
    assertTrue(s.contains("HOST"));
    for (String no :
        new String[] {
          "", "t", "tea", "connections", "connectio", "content-type", "hosts", "x-te"
        }) {
      assertFalse(s.contains(no), no);
    }
    assertFalse(s.contains("a-very-long-header-name-longer-than-any-in-the-set"));
  }

  @Test
  void aUnionHoldsBoth() {
    HeaderNames u =
        HeaderNames.union(new HeaderNames("upgrade", "host"), new HeaderNames("cookie", "hosT"));
    for (String yes : new String[] {"Upgrade", "HOST", "Cookie"}) assertTrue(u.contains(yes), yes);
    assertFalse(u.contains("authorization"));
  }
}
