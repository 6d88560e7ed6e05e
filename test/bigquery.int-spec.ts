import { randomUUID } from 'node:crypto';
import type { TableField, TableMetadata } from '@google-cloud/bigquery';
import { inject } from 'vitest';
import { createBigQuery } from '../src/bigquery/create-bigquery.js';
import { AppendConnection, type AppendRowsResponse } from '../src/sink/storage-write/append-connection.js';
import { rowType } from '../src/sink/storage-write/row-encoding.js';
import { createWriteClient, tablePathOf } from '../src/sink/storage-write/storage-write-writer.js';

// Proves the emulator that deps:up starts works through @google-cloud/bigquery, the client the
// service uses: a dataset, a day-partitioned clustered table, insertAll with insertIds, a query.
const { BIGQUERY_API_ENDPOINT, BIGQUERY_STORAGE_API_ENDPOINT, BIGQUERY_PROJECT_ID } = inject('deps');
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

  /*
   * The exactly-once writer counts on two things of a write stream: a finalize's row_count counts every
   * append that landed (the next owner skips that many plays), and of two appends at one offset one is
   * refused. BigQuery does both by taking a stream's appends and its finalize one at a time; the
   * emulator (local-bigquery 0.3.2) does it only through deps/bigquery-emulator/serve.py.
   */
  describe('Storage Write API: a stream takes its appends and its finalize one at a time', () => {
    const writeClient = createWriteClient({ BIGQUERY_PROJECT_ID, BIGQUERY_STORAGE_API_ENDPOINT });
    const descriptor = {
      name: 'Row',
      field: [{ name: 'x', number: 1, type: 'TYPE_STRING' as const, label: 'LABEL_OPTIONAL' as const }],
    };
    const type = rowType(descriptor);
    const rows = (tag: string, count: number) =>
      Array.from({ length: count }, (_, i) => type.encode({ x: `${tag}/${i}` }).finish());
    const landed = async (table: string) => {
      const [result] = (await bigquery.query(
        `SELECT SPLIT(x, '/')[OFFSET(0)] AS tag, COUNT(*) AS n FROM \`${BIGQUERY_PROJECT_ID}.${datasetId}.${table}\` GROUP BY tag`,
      )) as [{ tag: string; n: number }[]];
      return new Map(result.map(({ tag, n }) => [tag, n]));
    };
    const stream = async (table: string) => {
      const [created] = await writeClient.createWriteStream({
        parent: tablePathOf(BIGQUERY_PROJECT_ID, datasetId, table),
        writeStream: { type: 'COMMITTED' },
      });
      return created.name!;
    };
    const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
    // What a failure most likely means, e.g. with KAFKA_BROKERS and BIGQUERY_API_ENDPOINT naming an emulator started by hand.
    const UNSERIALIZED =
      'an emulator run bare (local-bigquery serve) does this; run it through deps/bigquery-emulator/serve.py (npm run deps:up and the compose image do)';

    afterAll(() => writeClient.close());

    it("a finalize during an append counts all of that append's rows, or the append is refused and none land", async () => {
      await bigquery.dataset(datasetId).createTable('finalize_race', { schema: [{ name: 'x', type: 'STRING' }] });
      // The emulator inserts a 5,000-row append for a few hundred ms: finalizes sent at these delays
      // after it land before, during and after the insert.
      const delays = [0, 25, 50, 100, 150, 200, 300, 500];
      const outcomes = await Promise.all(
        delays.map(async (delay, i) => {
          const name = await stream('finalize_race');
          const connection = new AppendConnection(writeClient, name, descriptor, 60_000);
          const appended = connection.append(rows(`s${i}`, 5_000), 0);
          await sleep(delay);
          const [finalized] = await writeClient.finalizeWriteStream({ name });
          const answer: AppendRowsResponse = await appended;
          connection.close();
          return { tag: `s${i}`, rowCount: Number(finalized.rowCount ?? 0), refused: answer.error != null };
        }),
      );
      const counts = await landed('finalize_race');
      for (const { tag, rowCount, refused } of outcomes) {
        expect({ tag, rowCount, landed: counts.get(tag) ?? 0 }, UNSERIALIZED).toEqual({
          tag,
          rowCount: refused ? 0 : 5_000,
          landed: refused ? 0 : 5_000,
        });
      }
    });

    it('of two appends at one offset on two connections, one lands and the other is refused (ALREADY_EXISTS)', async () => {
      await bigquery.dataset(datasetId).createTable('offset_race', { schema: [{ name: 'x', type: 'STRING' }] });
      const rounds = await Promise.all(
        [0, 1, 2, 3].map(async (i) => {
          const name = await stream('offset_race');
          const [a, b] = [0, 1].map(() => new AppendConnection(writeClient, name, descriptor, 60_000));
          const answers = await Promise.all([a!.append(rows(`r${i}a`, 2_000), 0), b!.append(rows(`r${i}b`, 2_000), 0)]);
          a!.close();
          b!.close();
          return answers.map((answer) => answer.error?.code ?? 0);
        }),
      );
      // gRPC ALREADY_EXISTS is 6.
      for (const codes of rounds) expect(codes.sort(), UNSERIALIZED).toEqual([0, 6]);
      const counts = await landed('offset_race');
      expect([...counts.values()].reduce((sum, n) => sum + n, 0)).toBe(4 * 2_000);
    });
  });
});
