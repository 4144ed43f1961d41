package io.kvgate.gateway.batch;

import com.hazelcast.cluster.Member;
import com.hazelcast.core.HazelcastInstance;
import com.hazelcast.map.IMap;
import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The batch lane's state shared through the cluster: four Hazelcast maps, each entry held by one
 * member and backed up synchronously on another (Hazelcast's default of one backup), so that the
 * loss of any one gateway loses none of it.
 *
 * <ul>
 *   <li>{@code kvgate.batch.files}: every file's metadata; {@code kvgate.batch.chunks}: its bytes
 *       in 1 MiB chunks. A file uploaded to one gateway is readable, and usable by a batch, through
 *       every gateway.
 *   <li>{@code kvgate.batch.batches}: every batch's OpenAI object, its owner key and its
 *       <em>runner</em>, the cluster member (by UUID) that sends its lines.
 *   <li>{@code kvgate.batch.records}: each ended line's record, written in the runner's group
 *       commit.
 *   <li>{@code kvgate.batch.cancels}: cancels received by a gateway that does not run the batch,
 *       for its runner to act on.
 * </ul>
 *
 * A batch whose runner left the cluster is adopted by the oldest member (a compare-and-set on its
 * entry, so one adopter wins): it rebuilds the batch from the maps in its own store and runs the
 * lines without a record. Each gateway still keeps everything it runs in its own store, which is
 * what survives a restart of the whole cluster. Blocking calls: the lane's store thread only.
 */
final class BatchReplica {

  static final int CHUNK_BYTES = 1 << 20;

  private final HazelcastInstance hz;
  private final IMap<String, String> files;
  private final IMap<String, byte[]> chunks;
  private final IMap<String, String> batches;
  private final IMap<String, String> records;
  private final IMap<String, Long> cancels;

  BatchReplica(HazelcastInstance hz) {
    this.hz = hz;
    this.files = hz.getMap("kvgate.batch.files");
    this.chunks = hz.getMap("kvgate.batch.chunks");
    this.batches = hz.getMap("kvgate.batch.batches");
    this.records = hz.getMap("kvgate.batch.records");
    this.cancels = hz.getMap("kvgate.batch.cancels");
  }

  /** This member's id, a batch's runner. */
  String self() {
    return hz.getCluster().getLocalMember().getUuid().toString();
  }

  /** The ids of the members in the cluster now. */
  Set<String> live() {
    Set<String> out = new HashSet<>();
    for (Member m : hz.getCluster().getMembers()) out.add(m.getUuid().toString());
    return out;
  }

  /** Whether this member is the oldest, the one that adopts orphaned batches. */
  boolean oldest() {
    return hz.getCluster().getMembers().iterator().next().localMember();
  }

  // ----------------------------------------------------------------------------------- files

  void putFile(BatchStore.FileRow f, Path content) throws IOException {
    int n = 0;
    try (InputStream in = Files.newInputStream(content)) {
      byte[] buf;
      while ((buf = in.readNBytes(CHUNK_BYTES)).length > 0) {
        chunks.set(f.id() + "/" + n, buf);
        n++;
      }
    }
    files.set(f.id(), fileJson(f).put("chunks", n).encode());
  }

  /** A file's metadata; null when there is none or it was deleted. */
  BatchStore.FileRow file(String id) {
    String j = files.get(id);
    if (j == null) return null;
    JsonObject o = new JsonObject(j);
    if (o.getBoolean("deleted", false)) return null;
    return fileRow(id, o);
  }

  /**
   * A batch's input file's metadata, deleted or not (a batch created before the delete still reads
   * it); null when the cluster has none.
   */
  BatchStore.FileRow inputFile(String id) {
    String j = files.get(id);
    return j == null ? null : fileRow(id, new JsonObject(j));
  }

  private static BatchStore.FileRow fileRow(String id, JsonObject o) {
    return new BatchStore.FileRow(
        id,
        o.getString("owner"),
        o.getString("purpose"),
        o.getString("filename"),
        o.getLong("bytes"),
        o.getLong("created_at"));
  }

  /** Writes a file's bytes to {@code dest}. */
  void readFile(String id, Path dest) throws IOException {
    String j = files.get(id);
    if (j == null) throw new IOException("no file " + id + " in the cluster");
    int n = new JsonObject(j).getInteger("chunks");
    try (OutputStream out = Files.newOutputStream(dest)) {
      for (int i = 0; i < n; i++) {
        byte[] c = chunks.get(id + "/" + i);
        if (c == null) throw new IOException("chunk " + i + " of " + id + " missing");
        out.write(c);
      }
    }
  }

  /**
   * Deletes a file; while an unfinished batch reads it, it is only marked deleted (gone from the
   * API) and its bytes stay for that batch's adoption, released by {@link #release} when the last
   * such batch ends.
   */
  void deleteFile(String id) {
    String j = files.get(id);
    if (j == null) return;
    JsonObject o = new JsonObject(j);
    if (readers(id) > 0) {
      files.set(id, o.put("deleted", true).encode());
      return;
    }
    remove(id, o);
  }

  /**
   * A batch reading {@code id} ended: a deleted file's bytes go when no unfinished batch reads it.
   */
  void release(String id) {
    String j = files.get(id);
    if (j == null) return;
    JsonObject o = new JsonObject(j);
    if (o.getBoolean("deleted", false) && readers(id) == 0) remove(id, o);
  }

  private void remove(String id, JsonObject o) {
    files.delete(id);
    int n = o.getInteger("chunks");
    for (int i = 0; i < n; i++) chunks.delete(id + "/" + i);
  }

  /** Unfinished batches that read file {@code id}. */
  private int readers(String id) {
    int n = 0;
    for (String j : batches.values()) {
      Shared s = shared("", j);
      if (unfinished(s) && id.equals(s.object().getString("input_file_id"))) n++;
    }
    return n;
  }

  private static boolean unfinished(Shared s) {
    return switch (s.object().getString("status")) {
      case "validating", "in_progress", "finalizing", "cancelling" -> true;
      default -> false;
    };
  }

  /** An owner's files (every gateway's). */
  List<BatchStore.FileRow> files(String owner) {
    List<BatchStore.FileRow> out = new ArrayList<>();
    for (Map.Entry<String, String> e : files.entrySet()) {
      JsonObject o = new JsonObject(e.getValue());
      if (!owner.equals(o.getString("owner")) || o.getBoolean("deleted", false)) continue;
      out.add(
          new BatchStore.FileRow(
              e.getKey(),
              owner,
              o.getString("purpose"),
              o.getString("filename"),
              o.getLong("bytes"),
              o.getLong("created_at")));
    }
    return out;
  }

  private static JsonObject fileJson(BatchStore.FileRow f) {
    return new JsonObject()
        .put("owner", f.owner())
        .put("purpose", f.purpose())
        .put("filename", f.filename())
        .put("bytes", f.bytes())
        .put("created_at", f.createdAt());
  }

  // --------------------------------------------------------------------------------- batches

  /** A batch as the cluster holds it. */
  record Shared(String id, String owner, String runner, JsonObject object, String raw) {}

  void putBatch(String id, String owner, String runner, JsonObject object) {
    batches.set(id, entry(owner, runner, object));
  }

  private static String entry(String owner, String runner, JsonObject object) {
    return new JsonObject()
        .put("owner", owner)
        .put("runner", runner)
        .put("object", object)
        .encode();
  }

  Shared batch(String id) {
    String j = batches.get(id);
    return j == null ? null : shared(id, j);
  }

  private static Shared shared(String id, String j) {
    JsonObject o = new JsonObject(j);
    return new Shared(
        id, o.getString("owner"), o.getString("runner"), o.getJsonObject("object"), j);
  }

  /** An owner's batches (every gateway's). */
  List<Shared> batches(String owner) {
    List<Shared> out = new ArrayList<>();
    for (Map.Entry<String, String> e : batches.entrySet()) {
      Shared s = shared(e.getKey(), e.getValue());
      if (owner.equals(s.owner())) out.add(s);
    }
    return out;
  }

  /** Unfinished batches whose runner is not a member any more. */
  List<Shared> orphans() {
    Set<String> live = live();
    List<Shared> out = new ArrayList<>();
    for (Map.Entry<String, String> e : batches.entrySet()) {
      Shared s = shared(e.getKey(), e.getValue());
      if (unfinished(s) && !live.contains(s.runner())) out.add(s);
    }
    return out;
  }

  /**
   * Makes this member a batch's runner, if the batch is still as {@code seen}: the batch as
   * claimed, or null when another member changed it first.
   */
  Shared claim(Shared seen) {
    String next = entry(seen.owner(), self(), seen.object());
    return batches.replace(seen.id(), seen.raw(), next) ? shared(seen.id(), next) : null;
  }

  /** Gives a claimed batch back, to its runner before the claim, for the next sweep to adopt. */
  void unclaim(Shared claimed, Shared before) {
    batches.replace(claimed.id(), claimed.raw(), before.raw());
  }

  /**
   * Writes a batch's object with this member as its runner, unless another member runs it now:
   * false then (it adopted the batch, and this member must stop running it).
   */
  boolean putIfRunner(String id, String owner, JsonObject object) {
    String self = self();
    String next = entry(owner, self, object);
    while (true) {
      String cur = batches.get(id);
      if (cur == null) {
        if (batches.putIfAbsent(id, next) == null) return true;
      } else if (!self.equals(new JsonObject(cur).getString("runner"))) {
        return false;
      } else if (batches.replace(id, cur, next)) {
        return true;
      }
    }
  }

  /** Asks a batch's runner to cancel it (a cancel received by another gateway). */
  void requestCancel(String id) {
    cancels.set(id, System.currentTimeMillis());
  }

  boolean cancelRequested(String id) {
    return cancels.containsKey(id);
  }

  // --------------------------------------------------------------------------------- records

  void putRecords(List<BatchStore.Finish> ends) {
    Map<String, String> m = new HashMap<>();
    for (BatchStore.Finish f : ends)
      m.put(f.batchId() + "/" + f.idx(), f.state() + "\t" + f.record());
    records.putAll(m);
  }

  /** The records of a batch's {@code lines} lines held by the cluster. */
  List<BatchStore.Finish> records(String batchId, int lines) {
    List<BatchStore.Finish> out = new ArrayList<>();
    Set<String> keys = new HashSet<>();
    for (int i = 0; i < lines; i++) keys.add(batchId + "/" + i);
    for (Map.Entry<String, String> e : records.getAll(keys).entrySet()) {
      int idx = Integer.parseInt(e.getKey().substring(e.getKey().lastIndexOf('/') + 1));
      String v = e.getValue();
      int tab = v.indexOf('\t');
      out.add(
          new BatchStore.Finish(
              batchId, idx, Integer.parseInt(v.substring(0, tab)), v.substring(tab + 1)));
    }
    return out;
  }
}
