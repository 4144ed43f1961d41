package io.kvgate.gateway.batch;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.SecureRandom;

/**
 * File contents on disk, one plain file per file id under {@code DATA_DIR/files}, written to a
 * temporary name, forced to disk and renamed into place, so that a file id the database knows
 * always names a complete file. Blocking I/O: worker and store threads only.
 */
final class BatchFiles {

  private static final SecureRandom RANDOM = new SecureRandom();
  private static final char[] ALPHABET =
      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789".toCharArray();

  private final Path dir;

  BatchFiles(Path dataDir) throws IOException {
    this.dir = dataDir.resolve("files");
    Files.createDirectories(dir);
  }

  /** A fresh id: {@code prefix} and 24 random letters and digits, as OpenAI's ids look. */
  static String newId(String prefix) {
    StringBuilder sb = new StringBuilder(prefix);
    for (int i = 0; i < 24; i++) sb.append(ALPHABET[RANDOM.nextInt(ALPHABET.length)]);
    return sb.toString();
  }

  /** Where a file's content lives. Ids are checked by the caller (letters, digits, '-', '_'). */
  Path path(String id) {
    return dir.resolve(id);
  }

  /** A temporary name in the same directory, for a file being written. */
  Path temp(String id) {
    return dir.resolve(".tmp-" + id);
  }

  /** Forces {@code temp} to disk and renames it to {@code id}'s name. */
  void commit(Path temp, String id) throws IOException {
    try (FileChannel c = FileChannel.open(temp, StandardOpenOption.WRITE)) {
      c.force(true);
    }
    Files.move(temp, path(id), StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
  }

  /** Reads {@code length} bytes at {@code offset} of a file. */
  static byte[] read(RandomAccessFile f, long offset, int length) throws IOException {
    byte[] out = new byte[length];
    ByteBuffer b = ByteBuffer.wrap(out);
    FileChannel c = f.getChannel();
    while (b.hasRemaining()) {
      int n = c.read(b, offset + b.position());
      if (n < 0) throw new IOException("file ended at " + (offset + b.position()));
    }
    return out;
  }

  /** Removes leftovers of writes a crash interrupted. */
  void removeTemporaries() throws IOException {
    try (var s = Files.list(dir)) {
      for (Path p : (Iterable<Path>) s::iterator) {
        if (p.getFileName().toString().startsWith(".tmp-")) Files.deleteIfExists(p);
      }
    }
  }

  void delete(String id) throws IOException {
    Files.deleteIfExists(path(id));
  }

  /** Whether {@code id} is a well-formed id (no path tricks). */
  static boolean validId(String id) {
    if (id.isEmpty() || id.length() > 100) return false;
    for (int i = 0; i < id.length(); i++) {
      char c = id.charAt(i);
      if (!(Character.isLetterOrDigit(c) && c < 128 || c == '-' || c == '_')) return false;
    }
    return true;
  }
}
