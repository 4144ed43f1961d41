package io.kvgate.gateway;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.logging.Handler;
import java.util.logging.LogRecord;

/** A JUL handler that keeps the messages it is given, for tests that count or read log lines. */
public final class LogLines extends Handler {

  private final List<String> lines = new CopyOnWriteArrayList<>();

  /** The messages published so far (live, thread-safe). */
  public List<String> lines() {
    return lines;
  }

  @Override
  public void publish(LogRecord r) {
    lines.add(r.getMessage());
  }

  @Override
  public void flush() {}

  @Override
  public void close() {}
}
