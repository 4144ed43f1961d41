package io.kvgate.testsupport;

import java.util.List;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * Fails a test during which Vert.x reported a blocked event loop (or worker) thread, naming the
 * thread and showing where it was stuck. Warnings logged outside a test (in {@code @BeforeAll} or
 * {@code @AfterAll}, or after the last test's checks) fail the test class instead.
 *
 * <p>Registered through {@code META-INF/services/org.junit.jupiter.api.extension.Extension}; a
 * module turns it on with a test dependency on {@code test-support} and {@code
 * junit.jupiter.extensions.autodetection.enabled=true} in its {@code
 * src/test/resources/junit-platform.properties} (gateway, engine-sim and replay do).
 *
 * <p><b>Threshold: Vert.x's default, 2 s</b> ({@code maxEventLoopExecuteTime}, checked every
 * second, so a block is reported after 2 to 3 s). It is kept deliberately. The tests create their
 * Vertx with default options in a dozen places, and the code under test creates more ({@code
 * CliRuntime}, {@code SimCommand}, {@code Replay}); a lower limit would need a shared options
 * factory threaded through all of them. And the build runs on 2 shared cores where the load average
 * reaches 5 to 10 while other builds run: a GC pause, JIT compilation or plain CPU starvation can
 * stall a correct event-loop task for hundreds of milliseconds, so a limit of that order would turn
 * a busy machine into failed tests. What this guard is for (blocking I/O, {@code join()} or {@code
 * get()} on a future, a sleep on the loop) blocks for seconds or for good, and 2 s catches it. A
 * test that means to block a Vert.x thread should use its own Vertx and a {@link
 * BlockedThreadDetector}, as {@code BlockedThreadDetectorTest} does, in a module without this
 * guard.
 */
public final class BlockedEventLoopGuard implements AfterEachCallback, AfterAllCallback {

  /** One per JVM, installed when JUnit loads the extension, before any test creates a Vertx. */
  private static final BlockedThreadDetector SHARED = BlockedThreadDetector.install();

  private final BlockedThreadDetector detector;

  /** For the service loader. */
  public BlockedEventLoopGuard() {
    this(SHARED);
  }

  BlockedEventLoopGuard(BlockedThreadDetector detector) {
    this.detector = detector;
  }

  @Override
  public void afterEach(ExtensionContext context) {
    check(context.getDisplayName());
  }

  @Override
  public void afterAll(ExtensionContext context) {
    check(context.getDisplayName() + " (outside its tests)");
  }

  /** Throws if Vert.x reported a blocked thread since the last check. */
  void check(String during) {
    List<String> reports = detector.drain();
    if (!reports.isEmpty()) {
      throw new AssertionError(
          "Vert.x reported a blocked thread during "
              + during
              + ":\n"
              + String.join("\n", reports)
              + "\n(a task ran on a Vert.x thread for longer than its limit: see the stack)");
    }
  }
}
