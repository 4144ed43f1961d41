package io.kvgate.gateway.cluster;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;

/**
 * The byte layout of kvgate's cluster messages, one {@code byte[]} per Hazelcast topic message
 * (Hazelcast serialises {@code byte[]} as is). Every message starts with a version byte, its type,
 * the sender's gateway id, its incarnation (random per start) and its wall clock at send; the rest
 * is per type, see {@link ClusterNode}. Strings are length-prefixed UTF-8.
 */
final class Wire {

  static final int VERSION = 1;

  static final byte DELTA = 1;
  static final byte STATE = 2;
  static final byte SNAPSHOT_REQUEST = 3;
  static final byte SNAPSHOT = 4;

  // index operations inside a DELTA
  static final byte OP_ROUTED = 1;
  static final byte OP_STORED = 2;
  static final byte OP_HELD = 3;
  static final byte OP_REMOVED = 4;
  static final byte OP_CLEARED = 5;
  static final byte OP_EXPIRES = 6;

  private Wire() {}

  /** A message being written. */
  static final class Out {
    final ByteArrayOutputStream bytes;
    final DataOutputStream out;

    Out(int sizeHint) {
      bytes = new ByteArrayOutputStream(sizeHint);
      out = new DataOutputStream(bytes);
    }

    Out header(byte type, String gateway, long incarnation, long wallMillis) {
      b(VERSION).b(type).str(gateway).l(incarnation).l(wallMillis);
      return this;
    }

    Out b(int v) {
      try {
        out.writeByte(v);
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
      return this;
    }

    Out bool(boolean v) {
      return b(v ? 1 : 0);
    }

    Out i(int v) {
      try {
        out.writeInt(v);
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
      return this;
    }

    Out l(long v) {
      try {
        out.writeLong(v);
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
      return this;
    }

    Out str(String s) {
      byte[] b = s.getBytes(StandardCharsets.UTF_8);
      i(b.length);
      try {
        out.write(b);
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
      return this;
    }

    int size() {
      return bytes.size();
    }

    byte[] bytes() {
      return bytes.toByteArray();
    }
  }

  /** A message being read; a malformed one throws {@link IOException}. */
  static final class In {
    final DataInputStream in;
    final int length;
    byte type;
    String gateway;
    long incarnation;
    long wallMillis;

    In(byte[] message) throws IOException {
      this.length = message.length;
      this.in = new DataInputStream(new ByteArrayInputStream(message));
      int v = in.readUnsignedByte();
      if (v != VERSION)
        throw new IOException("cluster message version " + v + ", expected " + VERSION);
      type = in.readByte();
      gateway = str();
      incarnation = in.readLong();
      wallMillis = in.readLong();
    }

    byte b() throws IOException {
      return in.readByte();
    }

    boolean bool() throws IOException {
      return in.readByte() != 0;
    }

    int i() throws IOException {
      return in.readInt();
    }

    /** A count, refused when negative or larger than the message could hold. */
    int count(int bytesEach) throws IOException {
      int n = in.readInt();
      if (n < 0 || (long) n * bytesEach > length) throw new IOException("bad count " + n);
      return n;
    }

    long l() throws IOException {
      return in.readLong();
    }

    long[] longs(int n) throws IOException {
      long[] a = new long[n];
      for (int k = 0; k < n; k++) a[k] = in.readLong();
      return a;
    }

    String str() throws IOException {
      int n = count(1);
      byte[] b = new byte[n];
      in.readFully(b);
      return new String(b, StandardCharsets.UTF_8);
    }
  }
}
