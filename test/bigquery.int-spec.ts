import { randomUUID } from 'node:crypto';
import type { TableField, TableMetadata } from '@google-cloud/bigquery';
import { inject } from 'vitest';
import { createBigQuery } from '../src/bigquery/create-bigquery.js';

// Proves the emulator that deps:up starts works through @google-cloud/bigquery, the client the
// service uses: a dataset, a day-partitioned clustered table, insertAll with insertIds, a query.
const { BIGQUERY_API_ENDPOINT, BIGQUERY_PROJECT_ID } = inject('deps');
const bigquery = createBigQuery({
  BIGQUERY_PROJECT_ID,
  BIGQUERY_API_ENDPOINT,
  BIGQUERY_LOCATION: undefined,
  GOOGLE_APPLICATION_CREDENTIALS: undefined,
});

const schema: TableField[] = [
  { name: 'user_id', type: 'INT64' },
  { name: 'artist', type: 'STRING' },
  { name: 'song_id', type: 'INT64' },
  { name: 'song_name', type: 'STRING' },
  { name: 'event_type', type: 'STRING' },
  { name: 'timestamp', type: 'TIMESTAMP' },
];

describe('BigQuery emulator (deps:up)', () => {
  const datasetId = `deps_check_${randomUUID().replaceAll('-', '')}`;

  afterAll(async () => {
    await bigquery.dataset(datasetId).delete({ force: true });
  });

  it('creates a partitioned, clustered table, takes insertAll rows and answers queries', async () => {
    const [dataset] = await bigquery.createDataset(datasetId);
    const [table] = await dataset.createTable('plays', {
      schema,
      timePartitioning: { type: 'DAY', field: 'timestamp' },
      clustering: { fields: ['artist', 'song_name'] },
    });

    const [metadata] = (await table.getMetadata()) as unknown as [TableMetadata];
    expect(metadata.timePartitioning).toMatchObject({ type: 'DAY', field: 'timestamp' });
    expect(metadata.clustering).toEqual({ fields: ['artist', 'song_name'] });

    const now = Date.now();
    const rows = ['zombie', 'lady', 'zombie', 'kindness', 'zombie', 'lady'].map((song_name, i) => ({
      insertId: `deps-check/0/${i}`,
      json: {
        user_id: 20_000 + i,
        artist: 'tony-allen',
        song_id: i,
        song_name,
        event_type: 'song_completed',
        timestamp: new Date(now - i * 1000).toISOString(),
      },
    }));
    await table.insert(rows, { raw: true });

    const [result] = await bigquery.query({
      query: `SELECT song_name, COUNT(*) AS plays, MIN(user_id) AS first_user
              FROM \`${BIGQUERY_PROJECT_ID}.${datasetId}.plays\`
              WHERE artist = @artist
              GROUP BY song_name ORDER BY plays DESC, song_name`,
      params: { artist: 'tony-allen' },
    });
    expect(result).toEqual([
      { song_name: 'zombie', plays: 3, first_user: 20_000 },
      { song_name: 'lady', plays: 2, first_user: 20_001 },
      { song_name: 'kindness', plays: 1, first_user: 20_003 },
    ]);
  });
});
