// The part of @google-cloud/bigquery-storage (pinned, 5.1.2) the writer uses, imported alone: the
// package's index also loads the Read API, apache-arrow and the generated protos module, ~23 MB of
// RSS the service never uses (measured on Node 24). The package has no `exports` map, so this path
// is one of its published files.
import writeClient from '@google-cloud/bigquery-storage/build/src/v1/big_query_write_client.js';
import type { protos } from '@google-cloud/bigquery-storage';

export const { BigQueryWriteClient } = writeClient;
export type BigQueryWriteClient = InstanceType<typeof BigQueryWriteClient>;
export type { protos };
