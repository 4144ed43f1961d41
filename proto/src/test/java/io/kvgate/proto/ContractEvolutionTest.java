package io.kvgate.proto;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.UnknownFieldSet;
import io.kvgate.proto.v1.BlockStored;
import io.kvgate.proto.v1.EventBatch;
import io.kvgate.proto.v1.KvEvent;
import io.kvgate.proto.v1.LoadReport;
import org.junit.jupiter.api.Test;

/** The wire rules the .proto files promise: unknown fields and absent fields are both harmless. */
class ContractEvolutionTest {

  @Test
  void aReceiverSkipsFieldsFromANewerSender() throws Exception {
    byte[] newer =
        LoadReport.newBuilder()
            .setRunning(3)
            .setUnknownFields(
                UnknownFieldSet.newBuilder()
                    .addField(99, UnknownFieldSet.Field.newBuilder().addVarint(7).build())
                    .build())
            .build()
            .toByteArray();
    LoadReport read = LoadReport.parseFrom(newer);
    assertEquals(3, read.getRunning());
    assertTrue(read.getUnknownFields().hasField(99));
  }

  @Test
  void absentFieldsReadAsTheirZeroAndPresenceIsKeptWhereItMatters() throws Exception {
    BlockStored first = BlockStored.newBuilder().addBlockHashes(1L).addBlockHashes(-2L).build();
    BlockStored read = BlockStored.parseFrom(first.toByteArray());
    assertFalse(read.hasParentBlockHash());
    assertEquals(-2L, read.getBlockHashes(1), "uint64 hashes keep all 64 bits");
    BlockStored child = first.toBuilder().setParentBlockHash(0L).build();
    assertTrue(BlockStored.parseFrom(child.toByteArray()).hasParentBlockHash());
  }

  @Test
  void anEventKindFromANewerSenderReadsAsNoEvent() throws Exception {
    byte[] unknownKind =
        KvEvent.newBuilder()
            .setUnknownFields(
                UnknownFieldSet.newBuilder()
                    .addField(
                        50,
                        UnknownFieldSet.Field.newBuilder()
                            .addLengthDelimited(com.google.protobuf.ByteString.EMPTY)
                            .build())
                    .build())
            .build()
            .toByteArray();
    EventBatch batch =
        EventBatch.parseFrom(
            EventBatch.newBuilder()
                .setSeq(5)
                .addEvents(KvEvent.parseFrom(unknownKind))
                .build()
                .toByteArray());
    assertEquals(KvEvent.EventCase.EVENT_NOT_SET, batch.getEvents(0).getEventCase());
  }
}
