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

  it('answers insertAll like BigQuery: per-row invalid and stopped errors, insertId deduplication', async () => {
    const [table] = await bigquery.dataset(datasetId).createTable('semantics', { schema });
    const row = (insertId: string, song_id: unknown) => ({
      insertId,
      json: {
        user_id: 1,
        artist: 'tony-allen',
        song_id,
        song_name: 'lady',
        event_type: 'song_completed',
        timestamp: new Date().toISOString(),
      },
    });

    const [response] = (await table.request({
      method: 'POST',
      uri: '/insertAll',
      json: { rows: [row('a', 1), row('b', 'not-a-number'), row('c', 3)] },
    })) as unknown as [{ insertErrors?: { index: number; errors: { reason: string }[] }[] }];
    const reasons = (response.insertErrors ?? []).map((e) => [e.index, e.errors[0]?.reason]);
    expect(reasons.sort()).toEqual([
      [0, 'stopped'],
      [1, 'invalid'],
      [2, 'stopped'],
    ]);

    // The same insertIds again, twice: BigQuery keeps one row per insertId.
    await table.insert([row('a', 1), row('c', 3)], { raw: true });
    await table.insert([row('a', 1), row('c', 3)], { raw: true });
    const [[count]] = (await bigquery.query(
      `SELECT COUNT(*) AS n FROM \`${BIGQUERY_PROJECT_ID}.${datasetId}.semantics\``,
    )) as [[{ n: number }]];
    expect(count.n).toBe(2);
  });
});
