import { PLAY_TABLE_SCHEMA } from '../play-schema.js';
import {
  convertBigQuerySchemaToStorageTableSchema,
  convertStorageSchemaToProto2Descriptor,
  DescriptorProto,
  normalizeDescriptor,
  type protos,
} from './client-parts.js';

/**
 * The proto2 descriptor of a play row, derived from the plays table's schema by the client's own
 * `adapt` helpers (as its JSONWriter does): the writer schema of every connection, and (through the
 * decoder threads' workerData) what the rows are encoded with.
 */
export const PLAY_ROW_DESCRIPTOR: protos.google.protobuf.IDescriptorProto = normalizeDescriptor(
  new DescriptorProto(
    convertStorageSchemaToProto2Descriptor(
      convertBigQuerySchemaToStorageTableSchema({ fields: PLAY_TABLE_SCHEMA }),
      'play_row',
    ),
  ),
)
  // Plain JSON, as the managed writer sends it: a message instance carries prototype defaults (e.g.
  // oneof_index 0 on every field) that the request's serializer would send, and BigQuery refuses.
  .toJSON();
