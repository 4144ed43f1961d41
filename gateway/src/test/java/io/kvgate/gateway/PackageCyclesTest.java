package io.kvgate.gateway;

import static org.junit.jupiter.api.Assertions.*;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * Architecture rules over the main sources of every module, read as text (no dependency needed).
 *
 * <ul>
 *   <li>The {@code io.kvgate.*} packages form no cycle. A package depends on another when one of
 *       its files imports from it or names one of its types fully qualified in code; comments,
 *       javadoc and string literals do not count (a javadoc link is documentation, not a
 *       dependency).
 *   <li>{@code routing-policies} main code does not use Vert.x: the routing brain stays a plain
 *       library.
 * </ul>
 *
 * It lives in {@code gateway}, which depends on the other runtime modules; it reads the sources
 * (not the classes) of every module the parent pom lists, benchmarks included.
 */
class PackageCyclesTest {

  private static final Pattern MODULE = Pattern.compile("<module>\\s*([^<\\s]+)\\s*</module>");
  private static final Pattern PACKAGE = Pattern.compile("\\bpackage\\s+([\\w.]+)\\s*;");

  /** A type named through its package, in an import or inline: io.kvgate.a.b.Type. */
  private static final Pattern KVGATE_TYPE =
      Pattern.compile("\\bio\\.kvgate((?:\\s*\\.\\s*[a-z0-9_]+)+)\\s*\\.\\s*[A-Z]");

  /** {@code import io.kvgate.a.b.*;}: the whole package. */
  private static final Pattern KVGATE_WILDCARD =
      Pattern.compile("\\bimport\\s+io\\.kvgate((?:\\.[a-z0-9_]+)+)\\.\\*\\s*;");

  private static final Pattern VERTX = Pattern.compile("\\bio\\s*\\.\\s*vertx\\b");

  /** One main source file, comments and literals blanked out. */
  record Source(String module, Path file, String pkg, String code) {}

  @Test
  void packagesFormNoCycle() {
    List<Source> sources = mainSources();
    Map<String, Map<String, String>> graph = packageGraph(sources);
    // A broken root lookup or a renamed tree would otherwise pass vacuously.
    assertTrue(
        graph
            .keySet()
            .containsAll(Set.of("io.kvgate.routing", "io.kvgate.sim", "io.kvgate.gateway")),
        "expected the main packages of every module, found " + graph.keySet());

    List<List<String>> cycles = cycles(edges(graph));
    if (!cycles.isEmpty()) {
      StringBuilder msg = new StringBuilder("package cycles in main code:\n");
      for (List<String> scc : cycles) {
        msg.append("  {").append(String.join(", ", scc)).append("}, through:\n");
        for (String from : scc) {
          graph
              .get(from)
              .forEach(
                  (to, file) -> {
                    if (scc.contains(to)) {
                      msg.append("    ").append(from).append(" -> ").append(to);
                      msg.append("  (").append(file).append(")\n");
                    }
                  });
        }
      }
      fail(msg.toString());
    }
  }

  @Test
  void routingPoliciesDoesNotUseVertx() {
    List<String> offenders =
        mainSources().stream()
            .filter(s -> s.module().equals("routing-policies"))
            .filter(s -> VERTX.matcher(s.code()).find())
            .map(s -> s.file().toString())
            .toList();
    assertEquals(List.of(), offenders, "routing-policies main code must not use io.vertx");
  }

  /** The cycle finder itself: a cycle is found, an acyclic graph passes. */
  @Test
  void cycleFinderFindsACycleAndOnlyACycle() {
    Map<String, Set<String>> g = new TreeMap<>();
    g.put("a", Set.of("b"));
    g.put("b", Set.of("c", "d"));
    g.put("c", Set.of("a"));
    g.put("d", Set.of());
    assertEquals(List.of(List.of("a", "b", "c")), cycles(g));

    g.put("c", Set.of("d"));
    assertEquals(List.of(), cycles(g));
  }

  @Test
  void commentsAndLiteralsAreNotCode() {
    String code =
        strip(
            "/** {@link io.kvgate.x.A} */ class B { // io.kvgate.y.C\n"
                + "String s = \"io.kvgate.z.D \\\" io.vertx\"; char c = '\"';"
                + " String t = \"\"\"\n io.kvgate.w.E\n \"\"\"; io.kvgate.v.F f; }");
    Matcher m = KVGATE_TYPE.matcher(code);
    List<String> found = new ArrayList<>();
    while (m.find()) found.add(m.group(1));
    assertEquals(List.of(".v"), found, code);
    assertFalse(VERTX.matcher(code).find(), code);
  }

  // --- reading the tree

  static List<Source> mainSources() {
    Path root = repoRoot();
    List<Source> out = new ArrayList<>();
    for (String module : modules(root)) {
      Path dir = root.resolve(module).resolve("src/main/java");
      if (!Files.isDirectory(dir)) continue;
      try (Stream<Path> files = Files.walk(dir)) {
        for (Path f : files.filter(p -> p.toString().endsWith(".java")).sorted().toList()) {
          String code = strip(Files.readString(f));
          Matcher pm = PACKAGE.matcher(code);
          String pkg = pm.find() ? pm.group(1) : "";
          out.add(new Source(module, root.relativize(f), pkg, code));
        }
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }
    assertFalse(out.isEmpty(), "no main sources under " + root);
    return out;
  }

  /** The nearest directory at or above the working directory whose pom.xml lists modules. */
  static Path repoRoot() {
    for (Path d = Paths.get("").toAbsolutePath(); d != null; d = d.getParent()) {
      Path pom = d.resolve("pom.xml");
      try {
        if (Files.isRegularFile(pom) && MODULE.matcher(Files.readString(pom)).find()) return d;
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }
    throw new AssertionError(
        "no parent pom.xml with <module>s above " + Paths.get("").toAbsolutePath());
  }

  static List<String> modules(Path root) {
    try {
      Matcher m = MODULE.matcher(Files.readString(root.resolve("pom.xml")));
      List<String> modules = new ArrayList<>();
      while (m.find()) modules.add(m.group(1));
      return modules;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** package -> (io.kvgate package it uses -> the first file that uses it). */
  static Map<String, Map<String, String>> packageGraph(List<Source> sources) {
    Map<String, Map<String, String>> graph = new TreeMap<>();
    for (Source s : sources) {
      Map<String, String> out = graph.computeIfAbsent(s.pkg(), k -> new TreeMap<>());
      for (Pattern p : List.of(KVGATE_TYPE, KVGATE_WILDCARD)) {
        Matcher m = p.matcher(s.code());
        while (m.find()) {
          String target = "io.kvgate" + m.group(1).replaceAll("\\s", "");
          if (!target.equals(s.pkg())) out.putIfAbsent(target, s.file().toString());
        }
      }
    }
    return graph;
  }

  static Map<String, Set<String>> edges(Map<String, Map<String, String>> graph) {
    Map<String, Set<String>> g = new TreeMap<>();
    graph.forEach((k, v) -> g.put(k, new TreeSet<>(v.keySet())));
    return g;
  }

  // --- cycles

  /** Tarjan's strongly connected components with more than one package, each sorted. */
  static List<List<String>> cycles(Map<String, Set<String>> g) {
    Map<String, Integer> index = new HashMap<>();
    Map<String, Integer> low = new HashMap<>();
    Deque<String> stack = new ArrayDeque<>();
    Set<String> onStack = new TreeSet<>();
    List<List<String>> out = new ArrayList<>();
    for (String v : g.keySet()) {
      if (!index.containsKey(v)) strongConnect(v, g, index, low, stack, onStack, out);
    }
    out.sort((a, b) -> a.get(0).compareTo(b.get(0)));
    return out;
  }

  private static void strongConnect(
      String v,
      Map<String, Set<String>> g,
      Map<String, Integer> index,
      Map<String, Integer> low,
      Deque<String> stack,
      Set<String> onStack,
      List<List<String>> out) {
    index.put(v, index.size());
    low.put(v, index.get(v));
    stack.push(v);
    onStack.add(v);
    for (String w : g.getOrDefault(v, Set.of())) {
      if (!index.containsKey(w)) {
        strongConnect(w, g, index, low, stack, onStack, out);
        low.put(v, Math.min(low.get(v), low.get(w)));
      } else if (onStack.contains(w)) {
        low.put(v, Math.min(low.get(v), index.get(w)));
      }
    }
    if (low.get(v).equals(index.get(v))) {
      List<String> scc = new ArrayList<>();
      String w;
      do {
        w = stack.pop();
        onStack.remove(w);
        scc.add(w);
      } while (!w.equals(v));
      if (scc.size() > 1) out.add(scc.stream().sorted().collect(Collectors.toList()));
    }
  }

  // --- Java text

  /**
   * The source with comments, string literals, text blocks and char literals replaced by spaces, so
   * that only code is searched.
   */
  static String strip(String src) {
    StringBuilder out = new StringBuilder(src.length());
    int i = 0;
    int n = src.length();
    while (i < n) {
      char c = src.charAt(i);
      if (src.startsWith("//", i)) {
        while (i < n && src.charAt(i) != '\n') i++;
      } else if (src.startsWith("/*", i)) {
        int end = src.indexOf("*/", i + 2);
        i = end < 0 ? n : end + 2;
        out.append(' ');
      } else if (src.startsWith("\"\"\"", i)) {
        int j = i + 3;
        while (j < n && !src.startsWith("\"\"\"", j)) j += src.charAt(j) == '\\' ? 2 : 1;
        i = Math.min(n, j + 3);
        out.append("\"\"");
      } else if (c == '"' || c == '\'') {
        int j = i + 1;
        while (j < n && src.charAt(j) != c && src.charAt(j) != '\n') {
          j += src.charAt(j) == '\\' ? 2 : 1;
        }
        i = Math.min(n, j + 1);
        out.append(c).append(c);
      } else {
        out.append(c);
        i++;
      }
    }
    return out.toString();
  }
}
