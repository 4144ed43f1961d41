package io.kvgate.gateway.proxy;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * A fixed set of HTTP header names, looked up whatever the case of the name asked about, with no
 * lower-cased copy of it and no tree walk: the names are grouped by length, so most lookups end at
 * one array read, and the rest compare the few names of that length ignoring ASCII case. The proxy
 * asks this for every header of every request and response.
 */
final class HeaderNames {

  private final String[][] byLength;

  HeaderNames(String... names) {
    int longest = 0;
    for (String n : names) longest = Math.max(longest, n.length());
    List<List<String>> groups = new ArrayList<>();
    for (int i = 0; i <= longest; i++) groups.add(new ArrayList<>());
    for (String n : names) groups.get(n.length()).add(n.toLowerCase(Locale.ROOT));
    byLength = new String[longest + 1][];
    for (int i = 0; i <= longest; i++) byLength[i] = groups.get(i).toArray(String[]::new);
  }

  /** The union of two sets. */
  static HeaderNames union(HeaderNames a, HeaderNames b) {
    List<String> all = new ArrayList<>();
    for (String[] g : a.byLength) all.addAll(List.of(g));
    for (String[] g : b.byLength) all.addAll(List.of(g));
    return new HeaderNames(all.toArray(String[]::new));
  }

  boolean contains(String name) {
    int n = name.length();
    if (n >= byLength.length) return false;
    for (String candidate : byLength[n]) {
      if (candidate.regionMatches(true, 0, name, 0, n)) return true;
    }
    return false;
  }
}
