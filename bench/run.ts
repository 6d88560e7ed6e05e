// npm run bench: plays-pipeline's drain rate side by side with what kafkajs itself can consume and
// with the original per-message design, plus latency and memory, on one local broker. Writes
// docs/BENCHMARKS.md. Options: --plays N (200000), --repeat N (3), --latency-seconds N (30),
// --memory-plays N (1000000), --emulator-plays N (20000), --freshness-samples N (20).
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import kafkajs, { type Admin, type Kafka } from 'kafkajs';
import { parseEnv } from '../src/config/parse-env.js';
import { PlayGenerator } from '../src/simulator/play-generator.js';
import { measureDashboardFreshness } from './dashboard-freshness.js';
import { FakeBigQuery } from './fake-bigquery.js';

const root = path.resolve(import.meta.dirname, '../..');
const { values: flags } = parseArgs({
  options: {
    plays: { type: 'string', default: '200000' },
    repeat: { type: 'string', default: '3' },
    'latency-seconds': { type: 'string', default: '30' },
    'memory-plays': { type: 'string', default: '1000000' },
    'emulator-plays': { type: 'string', default: '20000' },
    'freshness-samples': { type: 'string', default: '20' },
    // Extra node flags for the service under test, e.g. --service-node-options=--max-old-space-size=128
    'service-node-options': { type: 'string', default: '' },
  },
});
// B runs as the image runs it: the Dockerfile's NODE_OPTIONS and CMD flags, plus any given here.
const dockerfile = (await import(
  pathToFileURL(path.join(root, 'scripts/replay-dockerfile.mjs')).href
)) as typeof import('../scripts/replay-dockerfile.mjs');
const runtime = dockerfile.parseDockerfile(fs.readFileSync(path.join(root, 'Dockerfile'), 'utf8')).stages.at(-1)!;
const cmd = runtime.instructions.filter((instruction) => instruction.keyword === 'CMD').at(-1)?.json;
if (cmd?.[0] !== 'node' || cmd.at(-1) !== 'dist/main.js')
  throw new Error(`unexpected Dockerfile CMD: ${cmd?.join(' ')}`);
const imageNodeOptions = runtime.instructions
  .filter((instruction) => instruction.keyword === 'ENV')
  .map((instruction) => /\bNODE_OPTIONS="([^"]*)"/.exec(instruction.args)?.[1])
  .filter((options) => options !== undefined)
  .flatMap((options) => options.split(' ').filter(Boolean));
const SERVICE_NODE_OPTIONS = [
  ...imageNodeOptions,
  ...cmd.slice(1, -1),
  ...flags['service-node-options'].split(' ').filter(Boolean),
];
const N = Number(flags.plays);
const REPEAT = Number(flags.repeat);
const PARTITIONS = 6;
const runFile = promisify(execFile);
const say = (message: string) => process.stderr.write(`bench: ${message}\n`);
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const ANALYSIS_HEADING = '## What bounds each figure';
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

// ---------------------------------------------------------------------------------------------
// The broker and emulator: the benchmark's own deps:up instance, on ports of its own.

const depsDir = path.join(root, '.deps', 'bench');
function deps(...args: string[]): string {
  return execFileSync(
    process.execPath,
    ['--disable-warning=TimeoutNegativeWarning', path.join(root, 'scripts/deps.mjs'), ...args, '--dir', depsDir],
    { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] },
  );
}
const settings = Object.fromEntries(
  deps('up', '--kafka-port', '39092', '--emulator-port', '39050', '--project-id', 'plays-bench')
    .split('\n')
    .map((line) => /^([A-Z_]+)=(.*)$/.exec(line))
    .filter((match) => match !== null)
    .map((match) => [match[1]!, match[2]!]),
) as Record<'KAFKA_BROKERS' | 'BIGQUERY_API_ENDPOINT' | 'BIGQUERY_PROJECT_ID', string>;

const kafka: Kafka = new kafkajs.Kafka({
  clientId: 'plays-bench',
  brokers: settings.KAFKA_BROKERS.split(','),
  logLevel: kafkajs.logLevel.NOTHING,
});
const admin: Admin = kafka.admin();
await admin.connect();

// ---------------------------------------------------------------------------------------------
// Preloading plays in the original format (no event_id), as fast as the broker takes them.

const generator = new PlayGenerator(parseEnv({ BIGQUERY_PROJECT_ID: 'plays-bench', SIMULATOR_SEED: '7' }));
const originals = generator.batch(1_000).map(({ event_id: _eventId, ...play }) => Buffer.from(JSON.stringify(play)));

async function freshTopic(partitions = PARTITIONS): Promise<string> {
  const topic = `bench-${randomUUID().slice(0, 8)}`;
  await admin.createTopics({ topics: [{ topic, numPartitions: partitions }], waitForLeaders: false });
  // kafkajs' waitForLeaders gives up on UNKNOWN_TOPIC_OR_PARTITION, which a just-started broker answers for a while.
  for (const deadline = Date.now() + 30_000; ; await sleep(200)) {
    try {
      const { topics } = await admin.fetchTopicMetadata({ topics: [topic] });
      if (topics[0]?.partitions.length === partitions && topics[0].partitions.every((p) => p.leader >= 0)) return topic;
    } catch (error) {
      if (Date.now() > deadline) throw error;
    }
    if (Date.now() > deadline) throw new Error(`topic ${topic} has no leaders after 30 s`);
  }
}

async function preload(topic: string, count: number): Promise<void> {
  const producer = kafka.producer({ createPartitioner: kafkajs.Partitioners.DefaultPartitioner });
  await producer.connect();
  const started = Date.now();
  const inFlight = new Set<Promise<unknown>>();
  for (let sent = 0; sent < count; sent += 2_000) {
    const messages = Array.from({ length: Math.min(2_000, count - sent) }, (_, i) => ({
      value: originals[(sent + i) % originals.length]!,
    }));
    const send = producer.send({ topic, acks: 1, messages }).finally(() => inFlight.delete(send));
    inFlight.add(send);
    if (inFlight.size >= 6) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
  await producer.disconnect();
  say(`preloaded ${count} plays into ${topic} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

async function committed(topic: string, groupId: string): Promise<number> {
  const [offsets] = await admin.fetchOffsets({ groupId, topics: [topic] });
  return (offsets?.partitions ?? []).reduce((sum, p) => sum + Math.max(0, Number(p.offset)), 0);
}

function rssMb(pid: number): number {
  try {
    return Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
  } catch {
    return 0;
  }
}

// ---------------------------------------------------------------------------------------------
// A: the ceiling, a bare kafkajs eachBatch consumer that decodes and validates every play
// (bench/bare-consumer.ts, a fresh process each time).

async function drainBare(topic: string): Promise<number> {
  const { stdout } = await runFile(
    process.execPath,
    ['--disable-warning=TimeoutNegativeWarning', path.join(root, 'dist-bench/bench/bare-consumer.js')],
    {
      cwd: root,
      encoding: 'utf8',
      env: {
        PATH: process.env.PATH,
        BENCH_BROKERS: settings.KAFKA_BROKERS,
        BENCH_TOPIC: topic,
        BENCH_GROUP: `bare-${randomUUID()}`,
        BENCH_COUNT: String(N),
      },
    },
  );
  const { valid, ms } = JSON.parse(stdout.trim().split('\n').at(-1)!) as { valid: number; ms: number };
  if (valid !== N) throw new Error(`bare consumer saw ${valid} valid plays of ${N}`);
  return N / (ms / 1000);
}

// ---------------------------------------------------------------------------------------------
// B: the real service (dist/main.js), writing to the fake endpoint or the emulator.

interface Run {
  child: ChildProcess;
  joinedAt: Promise<number>;
  peakRssMb: () => number;
  stop: () => Promise<void>;
}

function startProcess(script: string, env: Record<string, string>, nodeOptions: string[] = []): Run {
  const child = spawn(process.execPath, ['--disable-warning=TimeoutNegativeWarning', ...nodeOptions, script], {
    cwd: root,
    env: { PATH: process.env.PATH, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const joinedAt = new Promise<number>((resolve) => {
    child.stdout.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('joined group')) resolve(Date.now());
    });
  });
  let peak = 0;
  const sampler = setInterval(() => (peak = Math.max(peak, rssMb(child.pid!))), 100);
  return {
    child,
    joinedAt,
    peakRssMb: () => peak,
    stop: async () => {
      clearInterval(sampler);
      if (child.exitCode !== null) return;
      // SIGTERM first, so a service run with --cpu-prof or --heap-prof writes its profile on exit.
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(killer);
    },
  };
}

function startService(topic: string, endpoint: string, extra: Record<string, string> = {}): Run & { groupId: string } {
  const groupId = `service-${randomUUID()}`;
  const run = startProcess(
    path.join(root, 'dist/main.js'),
    {
      KAFKA_BROKERS: settings.KAFKA_BROKERS,
      BIGQUERY_API_ENDPOINT: endpoint,
      BIGQUERY_PROJECT_ID: settings.BIGQUERY_PROJECT_ID,
      BIGQUERY_DATASET: `bench_${randomUUID().slice(0, 8)}`,
      KAFKA_TOPIC: topic,
      KAFKA_DLQ_TOPIC: `${topic}.dlq`,
      KAFKA_GROUP_ID: groupId,
      ...extra,
    },
    SERVICE_NODE_OPTIONS,
  );
  return { ...run, groupId };
}

async function drainService(
  topic: string,
  count: number,
  endpoint: string,
  rows: () => Promise<number> | number,
): Promise<{ rate: number; peakRssMb: number }> {
  const run = startService(topic, endpoint);
  try {
    const joinedAt = await run.joinedAt;
    while ((await rows()) < count || (await committed(topic, run.groupId)) < count) {
      if (run.child.exitCode !== null) throw new Error('the service exited during the drain');
      await sleep(50);
    }
    return { rate: count / ((Date.now() - joinedAt) / 1000), peakRssMb: run.peakRssMb() };
  } finally {
    await run.stop();
  }
}

// ---------------------------------------------------------------------------------------------
// C: the original design on NestJS defaults (one awaited insertAll per play), for a fixed time.

async function runOriginal(topic: string, fake: FakeBigQuery, endpoint: string, seconds: number): Promise<number> {
  fake.reset();
  const run = startProcess(path.join(root, 'dist-bench/bench/original-design.js'), {
    BENCH_BROKERS: settings.KAFKA_BROKERS,
    BENCH_TOPIC: topic,
    BENCH_GROUP: `original-${randomUUID()}`,
    BENCH_ENDPOINT: endpoint,
  });
  try {
    await run.joinedAt;
    await sleep(1_000); // the group join and first fetch
    const from = fake.rows;
    const started = Date.now();
    await sleep(seconds * 1_000);
    return (fake.rows - from) / ((Date.now() - started) / 1000);
  } finally {
    await run.stop();
  }
}

// ---------------------------------------------------------------------------------------------

const fake = new FakeBigQuery();
const fakeEndpoint = await fake.start();
const results: Record<string, string> = {};
try {
  const topic = await freshTopic();
  await preload(topic, N);

  const bare: number[] = [];
  const service: number[] = [];
  const original: number[] = [];
  let requestsPer1000 = 0;
  for (let i = 0; i < REPEAT; i++) {
    bare.push(await drainBare(topic));
    fake.reset();
    const b = await drainService(topic, N, fakeEndpoint, () => fake.rows);
    service.push(b.rate);
    requestsPer1000 = (fake.requests / fake.rows) * 1000;
    original.push(await runOriginal(topic, fake, fakeEndpoint, 10));
    say(
      `round ${i + 1}: A ${bare.at(-1)!.toFixed(0)}/s, B ${service.at(-1)!.toFixed(0)}/s, C ${original.at(-1)!.toFixed(0)}/s`,
    );
  }
  const [A, B, C] = [median(bare), median(service), median(original)];

  // B on the real emulator, for information.
  const emulatorPlays = Number(flags['emulator-plays']);
  const emulatorTopic = await freshTopic();
  await preload(emulatorTopic, emulatorPlays);
  const onEmulator = await drainService(
    emulatorTopic,
    emulatorPlays,
    settings.BIGQUERY_API_ENDPOINT,
    () => emulatorPlays,
  );

  // Dashboard freshness: produce to a dashboard viewer's screen, on the emulator, at default settings.
  const freshnessTopic = await freshTopic();
  const freshnessPort = 39300;
  const freshnessRun = startService(freshnessTopic, settings.BIGQUERY_API_ENDPOINT, { PORT: String(freshnessPort) });
  let freshness: number[];
  try {
    await freshnessRun.joinedAt;
    const producer = kafka.producer({ createPartitioner: kafkajs.Partitioners.DefaultPartitioner });
    await producer.connect();
    try {
      freshness = await measureDashboardFreshness(
        `http://127.0.0.1:${freshnessPort}`,
        async () => {
          const play = JSON.parse(originals[0]!.toString()) as Record<string, unknown>;
          const now = new Date().toISOString().slice(0, 19).replace('T', ' ');
          await producer.send({
            topic: freshnessTopic,
            acks: -1,
            messages: [{ value: JSON.stringify({ ...play, timestamp: now }) }],
          });
        },
        Number(flags['freshness-samples']),
      );
    } finally {
      await producer.disconnect();
    }
  } finally {
    await freshnessRun.stop();
  }
  const freshnessSorted = [...freshness].sort((a, b) => a - b);

  // Latency: a steady 1,000 plays/s through B, produce to row.
  const latencyTopic = await freshTopic();
  fake.reset();
  const latencyRun = startService(latencyTopic, fakeEndpoint);
  let p50 = 0;
  let p99 = 0;
  try {
    await latencyRun.joinedAt;
    await sleep(2_000);
    const producer = kafka.producer({ createPartitioner: kafkajs.Partitioners.DefaultPartitioner });
    await producer.connect();
    const seconds = Number(flags['latency-seconds']);
    for (let tick = 0; tick < seconds * 10; tick++) {
      const tickStart = Date.now();
      const messages = Array.from({ length: 100 }, (_, i) => {
        const play = JSON.parse(originals[i]!.toString()) as Record<string, unknown>;
        return { value: JSON.stringify({ ...play, event_id: `lat-${Date.now()}-${tick}-${i}` }) };
      });
      await producer.send({ topic: latencyTopic, acks: 1, messages });
      await sleep(Math.max(0, 100 - (Date.now() - tickStart)));
    }
    await producer.disconnect();
    await sleep(3_000);
    const sorted = [...fake.latencies].sort((a, b) => a - b);
    if (sorted.length < seconds * 1_000)
      throw new Error(`latency run wrote ${sorted.length} of ${seconds * 1_000} plays`);
    p50 = sorted[Math.floor(sorted.length * 0.5)]!;
    p99 = sorted[Math.floor(sorted.length * 0.99)]!;
  } finally {
    await latencyRun.stop();
  }

  // Memory: peak RSS of B draining a 1,000,000-play backlog.
  const memoryPlays = Number(flags['memory-plays']);
  const memoryTopic = await freshTopic();
  await preload(memoryTopic, memoryPlays);
  fake.reset();
  const memory = await drainService(memoryTopic, memoryPlays, fakeEndpoint, () => fake.rows);

  results.A = A.toFixed(0);
  results.B = B.toFixed(0);
  results.C = C.toFixed(0);
  results['B/A'] = (B / A).toFixed(2);
  results['B/C'] = (B / C).toFixed(0);
  results.requests = requestsPer1000.toFixed(2);
  results.emulator = onEmulator.rate.toFixed(0);
  results.p50 = (p50 / 1000).toFixed(3);
  results.p99 = (p99 / 1000).toFixed(3);
  results.rss = memory.peakRssMb.toFixed(0);
  results.freshnessP50 = (median(freshnessSorted) / 1000).toFixed(1);
  results.freshnessMax = (freshnessSorted.at(-1)! / 1000).toFixed(1);
  results.memoryRate = memory.rate.toFixed(0);

  const table = [
    '| measure | value | bar |',
    '| --- | --- | --- |',
    `| A: bare kafkajs eachBatch, decode + validate (plays/s, median of ${REPEAT}) | ${results.A} | |`,
    `| B: plays-pipeline into a stub insertAll endpoint (plays/s, median of ${REPEAT}) | ${results.B} | |`,
    `| C: original design, one awaited insertAll per play (plays/s, median of ${REPEAT}) | ${results.C} | |`,
    `| B/A | ${results['B/A']} | ≥ 0.8 |`,
    `| B/C | ${results['B/C']} | ≥ 50 |`,
    `| insertAll requests per 1,000 rows (B, saturated) | ${results.requests} | ≤ 2 |`,
    `| B into the local-bigquery emulator (plays/s, ${emulatorPlays} plays, for information) | ${results.emulator} | |`,
    `| produce-to-row latency p50 / p99 at 1,000 plays/s (s) | ${results.p50} / ${results.p99} | p99 ≤ 1.5 |`,
    `| dashboard freshness: produce to a viewer's screen on the emulator, median / worst of ${freshness.length} (s) | ${results.freshnessP50} / ${results.freshnessMax} | ≤ 5 |`,
    `| peak RSS of B draining ${memoryPlays.toLocaleString('en')} plays (MB); its drain rate | ${results.rss} MB; ${results.memoryRate}/s | ≤ 256 MB |`,
  ].join('\n');
  console.log(`\n${table}\n`);

  const machine = `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, ${os.type()} ${os.release()}`;
  const kafkaVersion =
    /Apache Kafka ([\d.]+)/.exec(fs.readFileSync(path.join(root, 'README.md'), 'utf8'))?.[1] ?? '4.x';
  const doc = `# Benchmarks

Measured by \`npm run bench\` (bench/run.ts) in one run on one machine, side by side, against one local
single-node Kafka broker (deps:up). A topic of ${N.toLocaleString('en')} plays in the original format
(${PARTITIONS} partitions) is drained from offset 0 by a fresh consumer group each time; each drain is
repeated ${REPEAT} times and the median is reported. Rates are counted from the consumer's group join to
the last play (B: to the last row written **and** every offset committed).

- **A** is the ceiling: a bare kafkajs \`eachBatch\` consumer that decodes and validates each play.
- **B** is plays-pipeline itself (dist/main.js: ingest, validation, batching, sink, commits), writing to
  a local HTTP stand-in for BigQuery (bench/fake-bigquery.ts) that answers insertAll at once and counts
  rows, so the figure is ours and not an emulator's.
- **C** is the original design on NestJS defaults: \`ServerKafka\`'s \`eachMessage\` handler awaiting one
  insertAll per play against the same stand-in, for 10 s.
- **Dashboard freshness** is the time from producing one play into Kafka to the first GET /api/top-songs
  answer that counts it, for a viewer that asks every 2 s as the dashboard page does, with the service at
  its default settings writing to the BigQuery emulator; the plays are sent one at a time at random
  moments of the viewer's cycle.

${table}

Run on ${new Date().toISOString().slice(0, 10)}: ${machine}; Node ${process.versions.node}; Apache Kafka ${kafkaVersion}
(single node, KRaft); kafkajs 2.2.4; service node flags (the image's NODE_OPTIONS and CMD): ${SERVICE_NODE_OPTIONS.join(' ') || 'none'}; default settings (SINK_BATCH_MAX_ROWS=500, SINK_LINGER_MS=200,
SINK_MAX_IN_FLIGHT=4, SINK_MAX_BUFFERED_ROWS=10000, INGEST_DECODE_THREADS=1). The machine is small and shared, so figures move
by tens of percent between runs; the ratios, measured side by side, move less.
`;
  // The analysis below the figures is written by hand; a new run keeps it.
  const docPath = path.join(root, 'docs/BENCHMARKS.md');
  const previous = fs.existsSync(docPath) ? fs.readFileSync(docPath, 'utf8') : '';
  const analysis = previous.indexOf(ANALYSIS_HEADING);
  fs.writeFileSync(docPath, analysis === -1 ? doc : `${doc}\n${previous.slice(analysis)}`);
  say('wrote docs/BENCHMARKS.md');
} finally {
  await admin.disconnect();
  await fake.stop();
  deps('down');
}
