package io.kvgate.gateway.batch;

import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;

/**
 * The batch lane's durable state: file metadata, batch objects and one row per batch line with its
 * final record, in one SQLite database ({@code DATA_DIR/kvgate.db}, write-ahead log, {@code
 * synchronous=FULL}: a committed transaction survives a kill -9 and a power cut). File contents are
 * plain files next to it ({@link BatchFiles}).
 *
 * <p>Blocking JDBC: used from one thread only, the lane's store thread ({@link BatchLane}), never
 * from an event loop. A line's record is written by {@link #finish} only while the line is still
 * pending, in the same statement that ends it, so a line ends once: a result that arrives twice (a
 * line run again after a restart) is not recorded twice. Each write is one transaction, rolled back
 * whole when any statement of it fails.
 *
 * <p>A batch's {@code status} column is its OpenAI status, except for two states of the lane's own:
 * {@code expiring} (the object still says {@code in_progress}: the deadline passed and the lines
 * not done are getting their {@code batch_expired} records, so a restart finishes the batch as
 * {@code expired}) and {@code handed_over} (in a cluster, another gateway runs the batch now; this
 * one does not resume it).
 */
final class BatchStore implements AutoCloseable {

  /** A line's state in the {@code lines} table. */
  static final int PENDING = 0;

  static final int OK = 1;
  static final int ERROR = 2;

  private final Connection db;

  BatchStore(Path dir) throws SQLException, java.io.IOException {
    Files.createDirectories(dir);
    db = DriverManager.getConnection("jdbc:sqlite:" + dir.resolve("kvgate.db").toAbsolutePath());
    try (Statement s = db.createStatement()) {
      s.execute("PRAGMA journal_mode=WAL");
      s.execute("PRAGMA synchronous=FULL");
      s.execute("PRAGMA busy_timeout=5000");
      s.execute(
          "CREATE TABLE IF NOT EXISTS files(id TEXT PRIMARY KEY, owner TEXT NOT NULL, purpose TEXT"
              + " NOT NULL, filename TEXT NOT NULL, bytes INTEGER NOT NULL, created_at INTEGER NOT"
              + " NULL, deleted INTEGER NOT NULL DEFAULT 0)");
      s.execute(
          "CREATE TABLE IF NOT EXISTS batches(seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT"
              + " NULL UNIQUE, owner TEXT NOT NULL, status TEXT NOT NULL, object TEXT NOT NULL)");
      s.execute(
          "CREATE TABLE IF NOT EXISTS lines(batch_id TEXT NOT NULL, idx INTEGER NOT NULL, custom_id"
              + " TEXT NOT NULL, offset INTEGER NOT NULL, length INTEGER NOT NULL, ord INTEGER NOT"
              + " NULL, state INTEGER NOT NULL, record TEXT, PRIMARY KEY(batch_id, idx)) WITHOUT"
              + " ROWID");
    }
    db.setAutoCommit(false);
  }

  /** A unit of work in one transaction. */
  private interface Work<T> {
    T run() throws SQLException;
  }

  /**
   * Runs {@code work} and commits it; on any failure rolls it back, so a later transaction does not
   * commit half of it.
   */
  private <T> T tx(Work<T> work) throws SQLException {
    try {
      T v = work.run();
      db.commit();
      return v;
    } catch (SQLException | RuntimeException e) {
      try {
        db.rollback();
      } catch (SQLException r) {
        e.addSuppressed(r);
      }
      throw e;
    }
  }

  /** A file's metadata. */
  record FileRow(
      String id, String owner, String purpose, String filename, long bytes, long createdAt) {}

  /** A batch: its OpenAI object as JSON text and who created it. */
  record BatchRow(long seq, String id, String owner, String status, String object) {}

  /**
   * One request line of a batch input file.
   *
   * @param idx its position in the file (0-based)
   * @param offset where its bytes start in the input file
   * @param length its length in bytes
   * @param ord its place in dispatch order (lines sharing a prefix are consecutive)
   */
  record LineRow(int idx, String customId, long offset, int length, int ord) {}

  /** A line's end: {@link #OK} or {@link #ERROR}, with the record written for it. */
  record Finish(String batchId, int idx, int state, String record) {}

  void putFile(FileRow f) throws SQLException {
    tx(
        () -> {
          insertFiles(List.of(f));
          return null;
        });
  }

  /** Registers files (or replaces their rows), in the transaction under way. */
  private void insertFiles(List<FileRow> rows) throws SQLException {
    try (PreparedStatement p =
        db.prepareStatement(
            "INSERT OR REPLACE INTO files(id, owner, purpose, filename, bytes, created_at)"
                + " VALUES (?,?,?,?,?,?)")) {
      for (FileRow f : rows) {
        p.setString(1, f.id());
        p.setString(2, f.owner());
        p.setString(3, f.purpose());
        p.setString(4, f.filename());
        p.setLong(5, f.bytes());
        p.setLong(6, f.createdAt());
        p.addBatch();
      }
      p.executeBatch();
    }
  }

  FileRow file(String id) throws SQLException {
    try (PreparedStatement p =
        db.prepareStatement(
            "SELECT id, owner, purpose, filename, bytes, created_at FROM files WHERE id=? AND"
                + " deleted=0")) {
      p.setString(1, id);
      try (ResultSet r = p.executeQuery()) {
        return r.next() ? fileRow(r) : null;
      }
    }
  }

  /** The owner's files, newest first unless {@code ascending}, after {@code after} if given. */
  List<FileRow> files(String owner, String purpose, String after, int limit, boolean ascending)
      throws SQLException {
    String order = ascending ? "ASC" : "DESC";
    String cmp = ascending ? ">" : "<";
    StringBuilder sql =
        new StringBuilder(
            "SELECT id, owner, purpose, filename, bytes, created_at FROM files WHERE owner=? AND"
                + " deleted=0");
    if (purpose != null) sql.append(" AND purpose=?");
    if (after != null)
      sql.append(" AND rowid ").append(cmp).append(" (SELECT rowid FROM files WHERE id=?)");
    sql.append(" ORDER BY rowid ").append(order).append(" LIMIT ?");
    try (PreparedStatement p = db.prepareStatement(sql.toString())) {
      int i = 1;
      p.setString(i++, owner);
      if (purpose != null) p.setString(i++, purpose);
      if (after != null) p.setString(i++, after);
      p.setInt(i, limit);
      List<FileRow> out = new ArrayList<>();
      try (ResultSet r = p.executeQuery()) {
        while (r.next()) out.add(fileRow(r));
      }
      return out;
    }
  }

  /** Marks a file deleted; false if there was none. */
  boolean deleteFile(String id) throws SQLException {
    return tx(
        () -> {
          try (PreparedStatement p =
              db.prepareStatement("UPDATE files SET deleted=1 WHERE id=? AND deleted=0")) {
            p.setString(1, id);
            return p.executeUpdate() > 0;
          }
        });
  }

  private static FileRow fileRow(ResultSet r) throws SQLException {
    return new FileRow(
        r.getString(1), r.getString(2), r.getString(3), r.getString(4), r.getLong(5), r.getLong(6));
  }

  void insertBatch(String id, String owner, String status, String object) throws SQLException {
    writeBatch(
        "INSERT INTO batches(id, owner, status, object) VALUES (?,?,?,?)",
        id,
        owner,
        status,
        object);
  }

  /** Inserts a batch or replaces its object (a batch adopted from the cluster). */
  void upsertBatch(String id, String owner, String status, String object) throws SQLException {
    writeBatch(
        "INSERT INTO batches(id, owner, status, object) VALUES (?,?,?,?) ON CONFLICT(id) DO"
            + " UPDATE SET status=excluded.status, object=excluded.object",
        id,
        owner,
        status,
        object);
  }

  private void writeBatch(String sql, String id, String owner, String status, String object)
      throws SQLException {
    tx(
        () -> {
          try (PreparedStatement p = db.prepareStatement(sql)) {
            p.setString(1, id);
            p.setString(2, owner);
            p.setString(3, status);
            p.setString(4, object);
            p.executeUpdate();
          }
          return null;
        });
  }

  void updateBatch(String id, String status, String object) throws SQLException {
    tx(
        () -> {
          setBatch(id, status, object);
          return null;
        });
  }

  /** Sets a batch's status column alone (its object unchanged). */
  void setStatus(String id, String status) throws SQLException {
    tx(
        () -> {
          try (PreparedStatement p =
              db.prepareStatement("UPDATE batches SET status=? WHERE id=?")) {
            p.setString(1, status);
            p.setString(2, id);
            p.executeUpdate();
          }
          return null;
        });
  }

  /** Sets a batch's status and object, in the transaction under way. */
  private void setBatch(String id, String status, String object) throws SQLException {
    try (PreparedStatement p =
        db.prepareStatement("UPDATE batches SET status=?, object=? WHERE id=?")) {
      p.setString(1, status);
      p.setString(2, object);
      p.setString(3, id);
      p.executeUpdate();
    }
  }

  BatchRow batch(String id) throws SQLException {
    try (PreparedStatement p =
        db.prepareStatement("SELECT seq, id, owner, status, object FROM batches WHERE id=?")) {
      p.setString(1, id);
      try (ResultSet r = p.executeQuery()) {
        return r.next() ? batchRow(r) : null;
      }
    }
  }

  /** The owner's batches, newest first, after (older than) {@code after} if given. */
  List<BatchRow> batches(String owner, String after, int limit) throws SQLException {
    String sql =
        "SELECT seq, id, owner, status, object FROM batches WHERE owner=?"
            + (after != null ? " AND seq < (SELECT seq FROM batches WHERE id=?)" : "")
            + " ORDER BY seq DESC LIMIT ?";
    try (PreparedStatement p = db.prepareStatement(sql)) {
      int i = 1;
      p.setString(i++, owner);
      if (after != null) p.setString(i++, after);
      p.setInt(i, limit);
      List<BatchRow> out = new ArrayList<>();
      try (ResultSet r = p.executeQuery()) {
        while (r.next()) out.add(batchRow(r));
      }
      return out;
    }
  }

  /** Batches not yet in a final state, oldest first. */
  List<BatchRow> unfinished() throws SQLException {
    List<BatchRow> out = new ArrayList<>();
    try (Statement s = db.createStatement();
        ResultSet r =
            s.executeQuery(
                "SELECT seq, id, owner, status, object FROM batches WHERE status IN"
                    + " ('validating','in_progress','expiring','finalizing','cancelling') ORDER BY"
                    + " seq")) {
      while (r.next()) out.add(batchRow(r));
    }
    return out;
  }

  private static BatchRow batchRow(ResultSet r) throws SQLException {
    return new BatchRow(
        r.getLong(1), r.getString(2), r.getString(3), r.getString(4), r.getString(5));
  }

  /**
   * Replaces a batch's lines (a validation run again after a restart starts from scratch) and sets
   * its object, in one transaction.
   */
  void putLines(String batchId, List<LineRow> lines, String status, String object)
      throws SQLException {
    tx(
        () -> {
          try (PreparedStatement del = db.prepareStatement("DELETE FROM lines WHERE batch_id=?")) {
            del.setString(1, batchId);
            del.executeUpdate();
          }
          try (PreparedStatement p =
              db.prepareStatement(
                  "INSERT INTO lines(batch_id, idx, custom_id, offset, length, ord, state) VALUES"
                      + " (?,?,?,?,?,?,0)")) {
            for (LineRow l : lines) {
              p.setString(1, batchId);
              p.setInt(2, l.idx());
              p.setString(3, l.customId());
              p.setLong(4, l.offset());
              p.setInt(5, l.length());
              p.setInt(6, l.ord());
              p.addBatch();
            }
            p.executeBatch();
          }
          setBatch(batchId, status, object);
          return null;
        });
  }

  /** A batch's lines, in dispatch order. */
  List<LineRow> lines(String batchId) throws SQLException {
    List<LineRow> out = new ArrayList<>();
    try (PreparedStatement p =
        db.prepareStatement(
            "SELECT idx, custom_id, offset, length, ord FROM lines WHERE batch_id=? ORDER BY"
                + " ord")) {
      p.setString(1, batchId);
      try (ResultSet r = p.executeQuery()) {
        while (r.next())
          out.add(new LineRow(r.getInt(1), r.getString(2), r.getLong(3), r.getInt(4), r.getInt(5)));
      }
    }
    return out;
  }

  /** Indexes of a batch's lines still pending. */
  List<Integer> pending(String batchId) throws SQLException {
    List<Integer> out = new ArrayList<>();
    try (PreparedStatement p =
        db.prepareStatement("SELECT idx FROM lines WHERE batch_id=? AND state=0 ORDER BY ord")) {
      p.setString(1, batchId);
      try (ResultSet r = p.executeQuery()) {
        while (r.next()) out.add(r.getInt(1));
      }
    }
    return out;
  }

  /** {pending, ok, error} line counts of a batch. */
  long[] counts(String batchId) throws SQLException {
    long[] out = new long[3];
    try (PreparedStatement p =
        db.prepareStatement("SELECT state, count(*) FROM lines WHERE batch_id=? GROUP BY state")) {
      p.setString(1, batchId);
      try (ResultSet r = p.executeQuery()) {
        while (r.next()) out[r.getInt(1)] = r.getLong(2);
      }
    }
    return out;
  }

  /**
   * Ends lines in one transaction (a group commit); for each, whether it was still pending (and so
   * ended now, with its record).
   */
  boolean[] finish(List<Finish> ends) throws SQLException {
    return finish(ends, null, null);
  }

  /**
   * {@link #finish(List)}, and in the same transaction sets the batch {@code statusOf}'s status
   * column to {@code status} (its object unchanged) when {@code status} is not null.
   */
  boolean[] finish(List<Finish> ends, String statusOf, String status) throws SQLException {
    return tx(
        () -> {
          if (status != null) {
            try (PreparedStatement p =
                db.prepareStatement("UPDATE batches SET status=? WHERE id=?")) {
              p.setString(1, status);
              p.setString(2, statusOf);
              p.executeUpdate();
            }
          }
          boolean[] out = new boolean[ends.size()];
          try (PreparedStatement p =
              db.prepareStatement(
                  "UPDATE lines SET state=?, record=? WHERE batch_id=? AND idx=? AND state=0")) {
            for (int i = 0; i < ends.size(); i++) {
              Finish f = ends.get(i);
              p.setInt(1, f.state());
              p.setString(2, f.record());
              p.setString(3, f.batchId());
              p.setInt(4, f.idx());
              out[i] = p.executeUpdate() == 1;
            }
          }
          return out;
        });
  }

  /** Feeds a batch's records of one state to {@code sink}, in input-file order. */
  void records(String batchId, int state, Consumer<String> sink) throws SQLException {
    try (PreparedStatement p =
        db.prepareStatement("SELECT record FROM lines WHERE batch_id=? AND state=? ORDER BY idx")) {
      p.setString(1, batchId);
      p.setInt(2, state);
      try (ResultSet r = p.executeQuery()) {
        while (r.next()) sink.accept(r.getString(1));
      }
    }
  }

  /** Registers a batch's output files and sets its final object, in one transaction. */
  void finalizeBatch(String batchId, List<FileRow> outputs, String status, String object)
      throws SQLException {
    tx(
        () -> {
          insertFiles(outputs);
          setBatch(batchId, status, object);
          return null;
        });
  }

  @Override
  public void close() throws SQLException {
    db.close();
  }
}
