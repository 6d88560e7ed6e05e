import adapt from '@google-cloud/bigquery-storage/build/src/adapt/index.js';
import protos from '@google-cloud/bigquery-storage/build/protos/protos.js';
import { PLAY_TABLE_SCHEMA } from '../play-schema.js';
import { PLAY_ROW_DESCRIPTOR } from './play-row-descriptor.js';

describe('PLAY_ROW_DESCRIPTOR', () => {
  it("is what the client's adapt helpers derive from the plays table's schema", () => {
    const derived = adapt
      .normalizeDescriptor(
        new protos.google.protobuf.DescriptorProto(
          adapt.convertStorageSchemaToProto2Descriptor(
            adapt.convertBigQuerySchemaToStorageTableSchema({ fields: PLAY_TABLE_SCHEMA }),
            'play_row',
          ),
        ),
      )
      .toJSON();
    expect(PLAY_ROW_DESCRIPTOR).toEqual(derived);
  });
});
