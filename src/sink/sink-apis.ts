import type { AppConfig } from '../config/config.module.js';
import { InsertAllWriter } from './insert-all/insert-all-writer.js';
import type { PlayTable } from './play-table.js';
import type { PlayWriter, SinkApi, WriterDefaults } from './play-writer.js';
import { createWriteClient, defaultStreamOf, StorageWriteWriter } from './storage-write/storage-write-writer.js';

/**
 * The writers, one per value of SINK_API: how to make one, its row format (loaded by URL on the
 * decoder threads) and the batch policy its API is best served with. A third writer is a folder
 * under src/sink/ and an entry here.
 *
 * The policies serve a real ~75 ms round trip, not only an instant stand-in (docs/BENCHMARKS.md):
 * insertAll, with 500 rows a request (BigQuery's advice), needs 16 requests in flight to pass
 * 100,000 plays/s; the Write API takes larger appends (about 1 MB, as it advises under load), so
 * fewer in flight on its one connection do.
 */
export const WRITER_DEFAULTS: Record<SinkApi, WriterDefaults> = {
  'insert-all': { batchMaxRows: 500, batchMaxBytes: 9_000_000, maxInFlight: 16 },
  'storage-write': { batchMaxRows: 10_000, batchMaxBytes: 1_000_000, maxInFlight: 8 },
};

export const ROW_ENCODING_URLS: Record<SinkApi, string> = {
  'insert-all': new URL('./insert-all/row-encoding.js', import.meta.url).href,
  'storage-write': new URL('./storage-write/row-encoding.js', import.meta.url).href,
};

export function createWriter(config: AppConfig, table: PlayTable): PlayWriter {
  switch (config.SINK_API) {
    case 'insert-all':
      return new InsertAllWriter(table.bigquery, config.BIGQUERY_DATASET, config.BIGQUERY_TABLE);
    case 'storage-write':
      return new StorageWriteWriter(
        createWriteClient(config),
        defaultStreamOf(config.BIGQUERY_PROJECT_ID, config.BIGQUERY_DATASET, config.BIGQUERY_TABLE),
      );
  }
}
