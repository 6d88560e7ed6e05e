import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import net from 'node:net';
import path from 'node:path';
import kafkajs, { type Admin, type IHeaders, type Kafka, type Message } from 'kafkajs';
import { inject } from 'vitest';
import { createBigQuery } from '../../src/bigquery/create-bigquery.js';
import { ORIGINAL_SONGS } from '../../src/plays/play.js';

const root = path.resolve(import.meta.dirname, '../..');
export const deps = inject('deps');

export const bigquery = createBigQuery({
  BIGQUERY_PROJECT_ID: deps.BIGQUERY_PROJECT_ID,
  BIGQUERY_API_ENDPOINT: deps.BIGQUERY_API_ENDPOINT,
  BIGQUERY_LOCATION: undefined,
  GOOGLE_APPLICATION_CREDENTIALS: undefined,
});

export const kafka: Kafka = new kafkajs.Kafka({
  clientId: 'plays-test',
  brokers: deps.KAFKA_BROKERS.split(','),
  logLevel: kafkajs.logLevel.NOTHING,
});

/**
 * The writers the ingest and resilience tests run, as the service's settings: storage-write with each
 * delivery (exactly-once, its default, on a COMMITTED stream per partition; at-least-once on the
 * table's `_default` stream) and insert-all (the local-bigquery emulator serves both insertAll and the
 * Write API). The `_default` stream shares the batcher with the others, so it runs the main path and one
 * crash, not every test, to keep CI's time.
 */
export const SINKS = [
  ['SINK_API=storage-write', { api: 'storage-write', delivery: 'exactly-once', everyTest: true }],
  [
    'SINK_API=storage-write SINK_DELIVERY=at-least-once',
    { api: 'storage-write', delivery: 'at-least-once', everyTest: false },
  ],
  ['SINK_API=insert-all', { api: 'insert-all', delivery: 'at-least-once', everyTest: true }],
] as const;
export type Sink = (typeof SINKS)[number][1];

/** A sink's settings: SINK_DELIVERY only where it is not the API's default. */
export function sinkEnv(sink: Sink): Record<string, string> {
  return sink.api === 'storage-write' && sink.delivery === 'at-least-once'
    ? { SINK_API: sink.api, SINK_DELIVERY: sink.delivery }
    : { SINK_API: sink.api };
}

/** A fresh topic, dead-letter topic, group and dataset for one test, so tests never see each other's data. */
function freshNames(partitions = 1) {
  const id = randomUUID().replaceAll('-', '').slice(0, 12);
  return {
    topic: `plays-${id}`,
    dlqTopic: `plays-${id}.dlq`,
    groupId: `group-${id}`,
    dataset: `test_${id}`,
    table: 'plays',
    partitions,
  };
}
export type Names = ReturnType<typeof freshNames>;

/** A Kafka admin client connected for the test file that calls this (in its describe or top level). */
export function useAdmin(): Admin {
  const admin = kafka.admin();
  beforeAll(() => admin.connect());
  afterAll(() => admin.disconnect());
  return admin;
}

/** Fresh names for one test, with its topic and dead-letter topic created. */
export async function setUpTopics(admin: Admin, partitions = 1): Promise<Names> {
  const names = freshNames(partitions);
  await createTopics(admin, names);
  return names;
}

/** Every produced play is a row once: the count of distinct (partition, offset) in the table. */
export async function distinctPlays(names: Names): Promise<number> {
  const [row] = await queryRows<{ n: number }>(
    names,
    'SELECT COUNT(DISTINCT CONCAT(CAST(kafka_partition AS STRING), "/", CAST(kafka_offset AS STRING))) AS n FROM $table',
  );
  return row?.n ?? 0;
}

/**
 * Waits until `rows` plays are rows and `committed` offsets (default: as many) are committed, the
 * commits within `commitWaitMs` of the rows.
 */
export async function drained(
  admin: Admin,
  names: Names,
  rows: number,
  committed = rows,
  commitWaitMs = 15_000,
): Promise<void> {
  await eventually(
    () => distinctPlays(names),
    (n) => n === rows,
    120_000,
  );
  await eventually(
    () => committedTotal(admin, names),
    (n) => n === committed,
    commitWaitMs,
  );
}

async function createTopics(admin: Admin, names: Names): Promise<void> {
  await admin.createTopics({
    waitForLeaders: true,
    topics: [
      { topic: names.topic, numPartitions: names.partitions },
      { topic: names.dlqTopic, numPartitions: 1 },
    ],
  });
}

/** The service's settings for one test: the tests' Kafka and emulator, the test's own names, a port. */
export function serviceEnv(names: Names, port: number): Record<string, string> {
  return {
    PORT: String(port),
    KAFKA_BROKERS: deps.KAFKA_BROKERS,
    BIGQUERY_API_ENDPOINT: deps.BIGQUERY_API_ENDPOINT,
    BIGQUERY_STORAGE_API_ENDPOINT: deps.BIGQUERY_STORAGE_API_ENDPOINT,
    BIGQUERY_PROJECT_ID: deps.BIGQUERY_PROJECT_ID,
    KAFKA_TOPIC: names.topic,
    KAFKA_DLQ_TOPIC: names.dlqTopic,
    KAFKA_GROUP_ID: names.groupId,
    BIGQUERY_DATASET: names.dataset,
    BIGQUERY_TABLE: names.table,
  };
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

/** The real service (dist/main.js) as a child process, configured for one test's names. */
export class Service {
  private constructor(
    readonly child: ChildProcess,
    readonly port: number,
    private readonly output: string[],
  ) {}

  /** Resolves once the service logs `readyLog`: by default the consumer joining its group (ingest on). */
  static async start(names: Names, env: Record<string, string> = {}, readyLog = /joined group/): Promise<Service> {
    const port = await freePort();
    const child = spawn(
      process.execPath,
      ['--disable-warning=TimeoutNegativeWarning', path.join(root, 'dist/main.js')],
      {
        cwd: root,
        stdio: ['ignore', 'pipe', 'pipe'],
        env: {
          PATH: process.env.PATH,
          NO_COLOR: '1',
          ...serviceEnv(names, port),
          ...env,
        },
      },
    );
    const output: string[] = [];
    child.stdout.on('data', (chunk: Buffer) => output.push(chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => output.push(chunk.toString()));
    const service = new Service(child, port, output);
    try {
      await service.waitForLog(readyLog, 60_000);
    } catch (error) {
      // Never leave a service running that no test holds.
      await service.stop('SIGKILL');
      throw error;
    }
    return service;
  }

  get log(): string {
    return this.output.join('');
  }

  async waitForLog(pattern: RegExp, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!pattern.test(this.log)) {
      if (this.child.exitCode !== null)
        throw new Error(`service exited (${this.child.exitCode}) before ${pattern}:\n${this.log}`);
      if (Date.now() > deadline) throw new Error(`service did not log ${pattern} within ${timeoutMs} ms:\n${this.log}`);
      await sleep(100);
    }
  }

  /** Sends a signal and resolves with the exit code (or the signal's name for a kill). */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | string> {
    if (this.child.exitCode !== null || this.child.signalCode !== null)
      return this.child.exitCode ?? this.child.signalCode!;
    const exited = new Promise<number | string>((resolve) =>
      this.child.once('exit', (code, killedBy) => resolve(code ?? killedBy ?? 'unknown')),
    );
    this.child.kill(signal);
    return exited;
  }
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Polls until `probe` returns true, or fails with what it last saw. */
export async function eventually<T>(probe: () => Promise<T>, ok: (value: T) => boolean, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T = await probe();
  while (!ok(last)) {
    if (Date.now() > deadline) throw new Error(`gave up after ${timeoutMs} ms; last value: ${JSON.stringify(last)}`);
    await sleep(250);
    last = await probe();
  }
  return last;
}

export async function queryRows<T = Record<string, unknown>>(names: Names, sql: string): Promise<T[]> {
  try {
    const [rows] = await bigquery.query({
      query: sql.replaceAll('$table', `\`${deps.BIGQUERY_PROJECT_ID}.${names.dataset}.${names.table}\``),
    });
    return rows as T[];
  } catch (error) {
    if ((error as { code?: number }).code === 404) return [];
    throw error;
  }
}

export async function countRows(names: Names): Promise<number> {
  const [row] = await queryRows<{ n: number }>(names, 'SELECT COUNT(*) AS n FROM $table');
  return row?.n ?? 0;
}

export interface ConsumedMessage {
  partition: number;
  key: Buffer | null;
  value: Buffer | null;
  headers: IHeaders;
  offset: string;
}

/** A message as kafkajs' eachMessage gives it, kept for a test to read. */
export const consumedMessage = (
  partition: number,
  message: { key: Buffer | null; value: Buffer | null; headers?: IHeaders; offset: string },
): ConsumedMessage => ({
  partition,
  key: message.key,
  value: message.value,
  headers: message.headers ?? {},
  offset: message.offset,
});

/** Reads a whole topic from the start (e.g. the dead-letter topic) until `count` messages arrived. */
export async function readTopic(topic: string, count: number, timeoutMs = 30_000): Promise<ConsumedMessage[]> {
  const consumer = kafka.consumer({ groupId: `reader-${randomUUID()}`, maxWaitTimeInMs: 200 });
  const seen: ConsumedMessage[] = [];
  await consumer.connect();
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`read ${seen.length} of ${count} messages from ${topic}`)),
        timeoutMs,
      );
      if (count === 0) {
        clearTimeout(timer);
        return resolve();
      }
      void consumer.run({
        eachMessage: ({ partition, message }) => {
          seen.push(consumedMessage(partition, message));
          if (seen.length >= count) {
            clearTimeout(timer);
            resolve();
          }
          return Promise.resolve();
        },
      });
    });
  } finally {
    await consumer.disconnect();
  }
  return seen;
}

/** Sets a topic's max.message.bytes (e.g. below a dead letter's size, so the topic refuses it). */
export async function setMaxMessageBytes(admin: Admin, topic: string, bytes: number): Promise<void> {
  await admin.alterConfigs({
    validateOnly: false,
    resources: [
      {
        type: kafkajs.ConfigResourceTypes.TOPIC,
        name: topic,
        configEntries: [{ name: 'max.message.bytes', value: String(bytes) }],
      },
    ],
  });
}

/** Committed offsets of a group, summed over partitions. */
export async function committedTotal(admin: Admin, names: Names): Promise<number> {
  const [topic] = await admin.fetchOffsets({ groupId: names.groupId, topics: [names.topic] });
  return (topic?.partitions ?? []).reduce((sum, p) => sum + Math.max(0, Number(p.offset)), 0);
}

/** A play's timestamp in the original producer's form (`YYYY-MM-DD HH:MM:SS`, UTC), `ms` ago. */
export const ago = (ms: number) => new Date(Date.now() - ms).toISOString().slice(0, 19).replace('T', ' ');

export function play(i: number, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    user_id: 20_000 + (i % 80_000),
    artist: 'tony-allen',
    song_id: i % 10,
    song_name: ORIGINAL_SONGS[i % 10],
    event_type: 'song_completed',
    timestamp: new Date().toISOString().slice(0, 19).replace('T', ' '),
    ...overrides,
  };
}

export async function produce(topic: string, messages: Message[], chunk = 1_000): Promise<void> {
  const producer = kafka.producer({ createPartitioner: kafkajs.Partitioners.DefaultPartitioner });
  await producer.connect();
  try {
    for (let i = 0; i < messages.length; i += chunk) {
      await producer.send({ topic, acks: -1, messages: messages.slice(i, i + chunk) });
    }
  } finally {
    await producer.disconnect();
  }
}
