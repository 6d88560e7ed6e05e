// npm run test:bigquery: an opt-in smoke test against REAL BigQuery, never run by `npm test` or CI.
// It runs only when PLAYS_BIGQUERY_PROJECT names a Google Cloud project and Application Default
// Credentials (or GOOGLE_APPLICATION_CREDENTIALS) can act in it; otherwise it says why and skips.
// For each sink (SINK_API) it starts the real service (dist/main.js) against the tests' own Kafka
// broker, produces a few plays, reads them back from a temporary dataset, and deletes the dataset.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import net from 'node:net';
import path from 'node:path';
import { BigQuery } from '@google-cloud/bigquery';
import kafkajs, { type Kafka } from 'kafkajs';
import { inject } from 'vitest';

declare module 'vitest' {
  export interface ProvidedContext {
    realBigQuery: { skip: string } | { projectId: string; location: string | undefined; kafkaBrokers: string };
  }
}

const root = path.resolve(import.meta.dirname, '..');
const setup = inject('realBigQuery');
const SINKS = ['storage-write', 'insert-all'] as const;
const PLAYS = 5;

const real = 'skip' in setup ? null : setup;
if ('skip' in setup) {
  // Plainly, once: the run is green but says it tested nothing.
  console.warn(`test:bigquery SKIPPED: ${setup.skip}`);
}

describe.skipIf(real === null)('real BigQuery (opt-in smoke test)', () => {
  // Made in the hook, so a skipped run (no settings) builds no client.
  let projectId: string;
  let location: string | undefined;
  let kafkaBrokers: string;
  let bigquery: BigQuery;
  let kafka: Kafka;
  beforeAll(() => {
    ({ projectId, location, kafkaBrokers } = real!);
    bigquery = new BigQuery({ projectId, location });
    kafka = new kafkajs.Kafka({
      clientId: 'plays-smoke',
      brokers: kafkaBrokers.split(','),
      logLevel: kafkajs.logLevel.NOTHING,
    });
  });
  const datasets: string[] = [];

  afterAll(async () => {
    for (const dataset of datasets) {
      await bigquery
        .dataset(dataset)
        .delete({ force: true })
        .catch((error: unknown) => console.warn(`could not delete dataset ${dataset}: ${String(error)}`));
    }
  });

  it.each(SINKS)('writes plays through the %s sink and reads them back', async (sink) => {
    const id = randomUUID().replaceAll('-', '').slice(0, 12);
    const names = { topic: `plays-smoke-${id}`, dataset: `plays_smoke_${id}`, table: 'plays', groupId: `smoke-${id}` };
    datasets.push(names.dataset);
    const admin = kafka.admin();
    await admin.connect();
    try {
      await admin.createTopics({
        waitForLeaders: true,
        topics: [{ topic: names.topic }, { topic: `${names.topic}.dlq` }],
      });
    } finally {
      await admin.disconnect();
    }

    const service = startService({
      PORT: String(await freePort()),
      SINK_API: sink,
      KAFKA_BROKERS: kafkaBrokers,
      KAFKA_TOPIC: names.topic,
      KAFKA_DLQ_TOPIC: `${names.topic}.dlq`,
      KAFKA_GROUP_ID: names.groupId,
      BIGQUERY_PROJECT_ID: projectId,
      ...(location ? { BIGQUERY_LOCATION: location } : {}),
      BIGQUERY_DATASET: names.dataset,
      BIGQUERY_TABLE: names.table,
      DASHBOARD_ENABLED: 'false',
    });
    try {
      await service.waitForLog(/joined group/, 120_000);
      const now = new Date().toISOString().slice(0, 19).replace('T', ' ');
      const producer = kafka.producer({ createPartitioner: kafkajs.Partitioners.DefaultPartitioner });
      await producer.connect();
      await producer.send({
        topic: names.topic,
        acks: -1,
        messages: Array.from({ length: PLAYS }, (_, i) => ({
          value: JSON.stringify({
            user_id: 45_213 + i,
            artist: 'tony-allen',
            song_id: 3,
            song_name: 'kindness',
            event_type: 'song_completed',
            timestamp: now,
          }),
        })),
      });
      await producer.disconnect();

      // Streamed rows (either API) are visible to queries at once; allow for a slow first write.
      const table = `\`${projectId}.${names.dataset}.${names.table}\``;
      let rows: { user_id: number; timestamp: { value: string }; kafka_offset: number }[] = [];
      for (const deadline = Date.now() + 90_000; rows.length < PLAYS && Date.now() < deadline;) {
        await sleep(2_000);
        [rows] = (await bigquery.query({
          query: `SELECT user_id, timestamp, kafka_offset FROM ${table} ORDER BY kafka_offset`,
        })) as unknown as [typeof rows];
      }
      expect(rows.map((row) => row.kafka_offset)).toEqual([0, 1, 2, 3, 4]);
      expect(rows[0]!.user_id).toBe(45_213);
      expect(rows[0]!.timestamp.value).toBe(`${now.replace(' ', 'T')}.000Z`);
      expect(await service.stop()).toBe(0);
    } catch (error) {
      await service.stop('SIGKILL');
      throw new Error(`${String(error)}\nservice log:\n${service.log().slice(-4_000)}`, { cause: error });
    }
  });
});

function startService(env: Record<string, string>) {
  const child: ChildProcess = spawn(
    process.execPath,
    ['--disable-warning=TimeoutNegativeWarning', path.join(root, 'dist/main.js')],
    // Only what the service needs: PATH and HOME (Application Default Credentials live under it),
    // GOOGLE_APPLICATION_CREDENTIALS when set; never an emulator endpoint.
    {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        ...(process.env.GOOGLE_APPLICATION_CREDENTIALS
          ? { GOOGLE_APPLICATION_CREDENTIALS: process.env.GOOGLE_APPLICATION_CREDENTIALS }
          : {}),
        NO_COLOR: '1',
        ...env,
      },
    },
  );
  const output: string[] = [];
  child.stdout!.on('data', (chunk: Buffer) => output.push(chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => output.push(chunk.toString()));
  const log = () => output.join('');
  return {
    log,
    async waitForLog(pattern: RegExp, timeoutMs: number): Promise<void> {
      for (const deadline = Date.now() + timeoutMs; !pattern.test(log()); await sleep(200)) {
        if (child.exitCode !== null) throw new Error(`service exited (${child.exitCode}) before ${pattern}`);
        if (Date.now() > deadline) throw new Error(`service did not log ${pattern} within ${timeoutMs} ms`);
      }
    },
    stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | string> {
      if (child.exitCode !== null) return Promise.resolve(child.exitCode);
      const exited = new Promise<number | string>((resolve) =>
        child.once('exit', (code, killedBy) => resolve(code ?? killedBy ?? 'unknown')),
      );
      child.kill(signal);
      return exited;
    },
  };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
