// The parts of @google-cloud/bigquery-storage (pinned, 5.1.2) the writer uses, imported one by one:
// the package's index also loads the Read API and apache-arrow, ~18 MB of RSS the service never uses
// (measured on Node 24). The package has no `exports` map, so these paths are its published files.
import adapt from '@google-cloud/bigquery-storage/build/src/adapt/index.js';
import writeClient from '@google-cloud/bigquery-storage/build/src/v1/big_query_write_client.js';
import protos from '@google-cloud/bigquery-storage/build/protos/protos.js';

export const {
  convertBigQuerySchemaToStorageTableSchema,
  convertStorageSchemaToProto2Descriptor,
  normalizeDescriptor,
} = adapt;
export const { BigQueryWriteClient } = writeClient;
export type BigQueryWriteClient = InstanceType<typeof BigQueryWriteClient>;
export const storageV1 = protos.google.cloud.bigquery.storage.v1;
export const DescriptorProto = protos.google.protobuf.DescriptorProto;
export type { protos };
