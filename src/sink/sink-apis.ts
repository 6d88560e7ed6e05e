import type { AppConfig } from '../config/config.module.js';
import { deliveryOf } from '../config/env.schema.js';
import type { Counter } from '../metrics/metrics.js';
import type { PlayTable } from './play-table.js';
import type { PlayWriter, RowEncodingSource, SinkApi, WriterDefaults } from './writer.contract.js';

/**
 * The writers, one per value of SINK_API: how to make one (its module is loaded only when chosen),
 * where its row format is (loaded by URL on the decoder threads) and the batch policy its API is
 * best served with. A third writer is a folder under src/sink/, an entry here and a run of the writer
 * contract suite (test/writers.int-spec.ts).
 *
 * The policies serve a real ~75 ms round trip, not only an instant stand-in (docs/BENCHMARKS.md).
 * What one instance sustains is about (rows in flight) / (round trip): insertAll, at 500 rows a
 * request (BigQuery's advice), needs 16 requests in flight for 8,000 rows (~100,000 plays/s at
 * 75 ms; 4 gave ~26,000/s); the Write API takes larger appends (up to 1 MB, as it advises under
 * load; ~4,000 plays of ~150 bytes), so 5 of its 8 fill SINK_MAX_BUFFERED_ROWS (20,000) with room.
 */
export const WRITER_DEFAULTS: Record<SinkApi, WriterDefaults> = {
  'insert-all': { batchMaxRows: 500, batchMaxBytes: 9_000_000, maxInFlight: 16 },
  'storage-write': { batchMaxRows: 4_000, batchMaxBytes: 1_000_000, maxInFlight: 8 },
};

export async function createWriter(config: AppConfig, table: PlayTable, fallbacks: Counter): Promise<PlayWriter> {
  switch (config.SINK_API) {
    case 'insert-all': {
      const { InsertAllWriter } = await import('./insert-all/insert-all-writer.js');
      return new InsertAllWriter(table.bigquery, config.BIGQUERY_DATASET, config.BIGQUERY_TABLE);
    }
    case 'storage-write': {
      const { StorageWriteWriter, createWriteClient, defaultStreamOf, tablePathOf } =
        await import('./storage-write/storage-write-writer.js');
      if (deliveryOf(config) === 'exactly-once') {
        const { ExactlyOnceWriter } = await import('./storage-write/exactly-once/exactly-once-writer.js');
        return new ExactlyOnceWriter(
          createWriteClient(config),
          {
            table: tablePathOf(config.BIGQUERY_PROJECT_ID, config.BIGQUERY_DATASET, config.BIGQUERY_TABLE),
            retryMaxDelayMs: config.SINK_RETRY_MAX_DELAY_MS,
          },
          fallbacks,
        );
      }
      return new StorageWriteWriter(
        createWriteClient(config),
        defaultStreamOf(config.BIGQUERY_PROJECT_ID, config.BIGQUERY_DATASET, config.BIGQUERY_TABLE),
      );
    }
  }
}

export async function rowEncodingOf(config: Pick<AppConfig, 'SINK_API'>): Promise<RowEncodingSource> {
  switch (config.SINK_API) {
    case 'insert-all':
      return { url: new URL('./insert-all/row-encoding.js', import.meta.url).href };
    case 'storage-write': {
      const { PLAY_ROW_DESCRIPTOR } = await import('./storage-write/play-row-descriptor.js');
      return { url: new URL('./storage-write/row-encoding.js', import.meta.url).href, options: PLAY_ROW_DESCRIPTOR };
    }
  }
}
