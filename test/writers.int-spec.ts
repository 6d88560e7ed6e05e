import { randomUUID } from 'node:crypto';
import type { Counter } from '../src/metrics/metrics.js';
import { createRowEncoding as insertAllRows } from '../src/sink/insert-all/row-encoding.js';
import { InsertAllWriter } from '../src/sink/insert-all/insert-all-writer.js';
import { ExactlyOnceWriter } from '../src/sink/storage-write/exactly-once/exactly-once-writer.js';
import { PLAY_ROW_DESCRIPTOR } from '../src/sink/storage-write/play-row-descriptor.js';
import { createRowEncoding as protoRows } from '../src/sink/storage-write/row-encoding.js';
import {
  createWriteClient,
  defaultStreamOf,
  StorageWriteWriter,
  tablePathOf,
} from '../src/sink/storage-write/storage-write-writer.js';
import { bigquery, deps } from './support/service.js';
import { writerContract } from './support/writer-contract.js';

// Issue #24: every writer passes the one contract suite (test/support/writer-contract.ts), each on the
// emulator's API it writes with, no Kafka and no service between the suite and the writer.
const { BIGQUERY_PROJECT_ID, BIGQUERY_STORAGE_API_ENDPOINT } = deps;
const writeClient = () => createWriteClient({ BIGQUERY_PROJECT_ID, BIGQUERY_STORAGE_API_ENDPOINT });
const fallbacks = { inc: () => undefined } as unknown as Counter;

const dataset = `writers_${randomUUID().replaceAll('-', '').slice(0, 12)}`;
beforeAll(async () => {
  await bigquery.createDataset(dataset);
});
afterAll(async () => {
  await bigquery.dataset(dataset).delete({ force: true });
});

describe('insert-all', () => {
  writerContract(
    {
      encoding: insertAllRows(),
      create: ({ dataset, table }) => new InsertAllWriter(bigquery, dataset, table),
    },
    () => dataset,
  );
});

describe('storage-write, at-least-once (the default stream)', () => {
  writerContract(
    {
      encoding: protoRows(PLAY_ROW_DESCRIPTOR),
      create: ({ dataset, table }) =>
        new StorageWriteWriter(writeClient(), defaultStreamOf(BIGQUERY_PROJECT_ID, dataset, table)),
    },
    () => dataset,
  );
});

describe('storage-write, exactly-once (a COMMITTED stream per partition)', () => {
  writerContract(
    {
      encoding: protoRows(PLAY_ROW_DESCRIPTOR),
      create: ({ dataset, table }) =>
        new ExactlyOnceWriter(
          writeClient(),
          { table: tablePathOf(BIGQUERY_PROJECT_ID, dataset, table), retryMaxDelayMs: 1_000 },
          fallbacks,
        ),
    },
    () => dataset,
  );
});
