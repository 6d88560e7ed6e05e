// npm run bench: plays-pipeline's drain rate, with each sink (SINK_API), side by side with what kafkajs
// itself can consume and with the original per-message design, against stand-ins that answer at once
// and after 75 ms (a real round trip), plus latency and memory, on one local broker. Writes
// docs/BENCHMARKS.md and bench-results.json. Options: --plays N (200000), --repeat N (3),
// --latency-seconds N (30), --memory-plays N (1000000), --emulator-plays N (20000),
// --freshness-samples N (20), --live-samples N (60), --round-trip-ms N (75). Ports, so two checkouts can bench at once:
// --kafka-port N (39092), --emulator-port N (39050; its gRPC port is 10 above), --service-port N (the
// service's HTTP port during drains, 3000), --freshness-port N (39300). --only memory runs the memory
// section alone, --memory-repeat N times on one preloaded topic; --only drains runs B's drains alone
// (each sink, instant and at the round trip, --repeat times, alternated); neither writes an output file.
// Each drain of B prints (stderr) its time from the join, when its first and last rows came in, and the
// CPU seconds the service, the broker and this process (its stand-ins) spent on it.
// --service-logs DIR keeps each service run's log lines there.
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
import { measureDashboardFreshness, measureLiveFreshness } from './dashboard-freshness.js';
import { FakeBigQuery } from './fake-bigquery.js';
import { FakeStorageWrite } from './fake-storage-write.js';

const root = path.resolve(import.meta.dirname, '../..');
const { values: flags } = parseArgs({
  options: {
    plays: { type: 'string', default: '200000' },
    repeat: { type: 'string', default: '3' },
    'latency-seconds': { type: 'string', default: '30' },
    'memory-plays': { type: 'string', default: '1000000' },
    'emulator-plays': { type: 'string', default: '20000' },
    'freshness-samples': { type: 'string', default: '20' },
    // Through the live view: more, so its p99 is not simply the worst of 20.
    'live-samples': { type: 'string', default: '60' },
    'round-trip-ms': { type: 'string', default: '75' },
    'kafka-port': { type: 'string', default: '39092' },
    'emulator-port': { type: 'string', default: '39050' },
    'service-port': { type: 'string', default: '3000' },
    'freshness-port': { type: 'string', default: '39300' },
    only: { type: 'string' },
    'memory-repeat': { type: 'string', default: '1' },
    'service-logs': { type: 'string' },
    // Extra node flags for the service under test, e.g. --service-node-options=--max-old-space-size=128
    'service-node-options': { type: 'string', default: '' },
    // Extra settings for the service under test, e.g. --service-env='SINK_MAX_BUFFERED_ROWS=10000 SINK_MAX_IN_FLIGHT=4'
    'service-env': { type: 'string', default: '' },
  },
});
// B runs as the image runs it: the Dockerfile's NODE_OPTIONS and CMD flags and its other ENV
// (NODE_ENV, the allocator's settings), plus any given here.
const dockerfile = (await import(
  pathToFileURL(path.join(root, 'scripts/replay-dockerfile.mjs')).href
)) as typeof import('../scripts/replay-dockerfile.mjs');
const runtime = dockerfile.parseDockerfile(fs.readFileSync(path.join(root, 'Dockerfile'), 'utf8')).stages.at(-1)!;
const cmd = runtime.instructions.filter((instruction) => instruction.keyword === 'CMD').at(-1)?.json;
if (cmd?.[0] !== 'node' || cmd.at(-1) !== 'dist/main.js')
  throw new Error(`unexpected Dockerfile CMD: ${cmd?.join(' ')}`);
const imageEnv: Record<string, string> = Object.fromEntries(
  runtime.instructions
    .filter((instruction) => instruction.keyword === 'ENV')
    .flatMap((instruction) => [...instruction.args.matchAll(/([A-Za-z_]\w*)=(?:"([^"]*)"|(\S*))/g)])
    .map(([, name, quoted, plain]) => [name!, quoted ?? plain ?? '']),
);
const { NODE_OPTIONS: imageNodeOptionsText = '', ...IMAGE_ENV } = imageEnv;
const imageNodeOptions = imageNodeOptionsText.split(' ').filter(Boolean);
const imageEnvText =
  Object.entries(IMAGE_ENV)
    .map(([name, value]) => `${name}=${value}`)
    .join(' ') || 'none';
const SERVICE_NODE_OPTIONS = [
  ...imageNodeOptions,
  ...cmd.slice(1, -1),
  ...flags['service-node-options'].split(' ').filter(Boolean),
];
if (flags.only !== undefined && flags.only !== 'memory' && flags.only !== 'drains')
  throw new Error(`--only ${flags.only}: only 'memory' and 'drains' are known`);
const SERVICE_ENV = Object.fromEntries(
  flags['service-env']
    .split(' ')
    .filter(Boolean)
    .map((setting) => [setting.slice(0, setting.indexOf('=')), setting.slice(setting.indexOf('=') + 1)]),
);
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
  deps(
    'up',
    '--kafka-port',
    flags['kafka-port'],
    '--emulator-port',
    flags['emulator-port'],
    '--project-id',
    'plays-bench',
  )
    .split('\n')
    .map((line) => /^([A-Z_]+)=(.*)$/.exec(line))
    .filter((match) => match !== null)
    .map((match) => [match[1]!, match[2]!]),
) as Record<
  'KAFKA_BROKERS' | 'BIGQUERY_API_ENDPOINT' | 'BIGQUERY_STORAGE_API_ENDPOINT' | 'BIGQUERY_PROJECT_ID',
  string
>;
if (!settings.BIGQUERY_STORAGE_API_ENDPOINT) throw new Error('deps:up printed no BIGQUERY_STORAGE_API_ENDPOINT');

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

/** CPU seconds (user + system) a process has used so far, 0 if it is gone. */
function cpuSeconds(pid: number): number {
  try {
    const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
  }
}
const brokerPid = (): number => Number(fs.readFileSync(path.join(depsDir, 'kafka.pid'), 'utf8').trim());
const benchCpu = (): number => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
};

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
  if (flags['service-logs'] !== undefined) {
    fs.mkdirSync(flags['service-logs'], { recursive: true });
    const name = [path.basename(script, '.js'), env.SINK_API, env.SINK_DELIVERY, Date.now()].filter(Boolean).join('-');
    const log = fs.createWriteStream(path.join(flags['service-logs'], `${name}.log`));
    child.stdout.pipe(log);
  }
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

/** The write paths the service has: SINK_API, and for storage-write each SINK_DELIVERY. The first is the default. */
const SINK_SETTINGS = {
  'storage-write exactly-once': { SINK_API: 'storage-write', SINK_DELIVERY: 'exactly-once' },
  'storage-write at-least-once': { SINK_API: 'storage-write', SINK_DELIVERY: 'at-least-once' },
  'insert-all': { SINK_API: 'insert-all', SINK_DELIVERY: 'at-least-once' },
} as const;
type Sink = keyof typeof SINK_SETTINGS;
const SINKS = Object.keys(SINK_SETTINGS) as Sink[];
const DEFAULT_SINK: Sink = 'storage-write exactly-once';
const EO: Sink = 'storage-write exactly-once';
const SW: Sink = 'storage-write at-least-once';
const IA: Sink = 'insert-all';
const perSink = <T>(value: () => T): Record<Sink, T> =>
  Object.fromEntries(SINKS.map((sink) => [sink, value()])) as Record<Sink, T>;

/** Where a service writes: the REST endpoint (table checks; insertAll) and the Write API's (gRPC). */
interface Endpoints {
  rest: string;
  storageWrite: string;
}

function startService(
  topic: string,
  sink: Sink,
  endpoints: Endpoints,
  extra: Record<string, string> = {},
): Run & { groupId: string } {
  const groupId = `service-${randomUUID()}`;
  const run = startProcess(
    path.join(root, 'dist/main.js'),
    {
      KAFKA_BROKERS: settings.KAFKA_BROKERS,
      ...SINK_SETTINGS[sink],
      BIGQUERY_API_ENDPOINT: endpoints.rest,
      BIGQUERY_STORAGE_API_ENDPOINT: endpoints.storageWrite,
      BIGQUERY_PROJECT_ID: settings.BIGQUERY_PROJECT_ID,
      BIGQUERY_DATASET: `bench_${randomUUID().slice(0, 8)}`,
      KAFKA_TOPIC: topic,
      KAFKA_DLQ_TOPIC: `${topic}.dlq`,
      KAFKA_GROUP_ID: groupId,
      // Its own live topic: each run's live view reads only its own deltas, as one deployment's would.
      LIVE_TOPIC: `${topic}.live-${groupId}`,
      PORT: flags['service-port'],
      ...IMAGE_ENV,
      ...SERVICE_ENV,
      ...extra,
    },
    SERVICE_NODE_OPTIONS,
  );
  return { ...run, groupId };
}

async function drainService(
  topic: string,
  count: number,
  sink: Sink,
  endpoints: Endpoints,
  rows: () => Promise<number> | number,
  extra: Record<string, string> = {},
): Promise<{ rate: number; peakRssMb: number }> {
  const run = startService(topic, sink, endpoints, extra);
  try {
    const joinedAt = await run.joinedAt;
    const cpuAtJoin = [cpuSeconds(run.child.pid!), cpuSeconds(brokerPid()), benchCpu()];
    let firstRowAt = 0;
    let allRowsAt = 0;
    // The stand-in's count is local and cheap to poll often; the group's offsets are read once all rows are in.
    for (;;) {
      const written = await rows();
      if (written > 0 && firstRowAt === 0) firstRowAt = Date.now();
      if (written >= count && allRowsAt === 0) allRowsAt = Date.now();
      if (written >= count && (await committed(topic, run.groupId)) >= count) break;
      if (run.child.exitCode !== null) throw new Error('the service exited during the drain');
      await sleep(10);
    }
    const drainedAt = Date.now();
    const cpu = [cpuSeconds(run.child.pid!), cpuSeconds(brokerPid()), benchCpu()].map((c, i) => c - cpuAtJoin[i]!);
    say(
      `${sink}${endpoints === slow ? ` at ${ROUND_TRIP_MS} ms` : ''}: ${drainedAt - joinedAt} ms from the join ` +
        `(first row in at ${firstRowAt - joinedAt} ms, all at ${allRowsAt - joinedAt} ms, then committed); ` +
        `CPU seconds: service ${cpu[0]!.toFixed(2)}, broker ${cpu[1]!.toFixed(2)}, benchmark and stand-ins ${cpu[2]!.toFixed(2)}`,
    );
    return { rate: count / ((drainedAt - joinedAt) / 1000), peakRssMb: run.peakRssMb() };
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

// Stand-ins for each API: answering at once (B: what the service itself can do) and after a real
// round trip (what one instance sustains against BigQuery).
const ROUND_TRIP_MS = Number(flags['round-trip-ms']);
const fake = new FakeBigQuery();
const fakeWrite = new FakeStorageWrite();
const slowFake = new FakeBigQuery(ROUND_TRIP_MS);
const slowFakeWrite = new FakeStorageWrite(ROUND_TRIP_MS);
const instant: Endpoints = { rest: await fake.start(), storageWrite: await fakeWrite.start() };
const slow: Endpoints = { rest: await slowFake.start(), storageWrite: await slowFakeWrite.start() };
const emulator: Endpoints = {
  rest: settings.BIGQUERY_API_ENDPOINT,
  storageWrite: settings.BIGQUERY_STORAGE_API_ENDPOINT,
};
/** The stand-in that counts a sink's rows (and latency marks). */
const counterOf = (sink: Sink, endpoints: Endpoints): FakeBigQuery | FakeStorageWrite =>
  endpoints === slow ? (sink === IA ? slowFake : slowFakeWrite) : sink === IA ? fake : fakeWrite;

/** The sinks in round `round`'s order: each goes first in turn, so none always meets the machine coldest. */
const inTurn = (round: number): Sink[] => SINKS.map((_, j) => SINKS[(j + round) % SINKS.length]!);

async function drainWith(
  topic: string,
  sink: Sink,
  endpoints: Endpoints,
  count = N,
  extra: Record<string, string> = {},
) {
  const counter = counterOf(sink, endpoints);
  counter.reset();
  const drained = await drainService(topic, count, sink, endpoints, () => counter.rows, extra);
  return { ...drained, requestsPer1000: (counter.requests / counter.rows) * 1000 };
}

/** Peak RSS of B (default sink) draining a preloaded backlog, --memory-repeat times, each with a fresh group. */
async function memoryDrains(count: number, repeat: number) {
  const memoryTopic = await freshTopic();
  await preload(memoryTopic, count);
  const drains = [];
  for (let i = 0; i < repeat; i++) {
    drains.push(await drainWith(memoryTopic, DEFAULT_SINK, instant, count));
    say(
      `memory drain ${i + 1}: peak RSS ${drains.at(-1)!.peakRssMb.toFixed(0)} MB, ${drains.at(-1)!.rate.toFixed(0)}/s`,
    );
  }
  return drains;
}

type FreshnessViewer = (baseUrl: string, produceOnePlay: () => Promise<void>, samples: number) => Promise<number[]>;

/** A viewer's freshness against a service at its defaults (plus `extra`) writing to the emulator. */
async function dashboardFreshness(
  extra: Record<string, string>,
  viewer: FreshnessViewer,
  samples: number,
): Promise<number[]> {
  const freshnessTopic = await freshTopic();
  const freshnessPort = Number(flags['freshness-port']);
  const run = startService(freshnessTopic, DEFAULT_SINK, emulator, { PORT: String(freshnessPort), ...extra });
  try {
    await run.joinedAt;
    const producer = kafka.producer({ createPartitioner: kafkajs.Partitioners.DefaultPartitioner });
    await producer.connect();
    try {
      // The live view answers once rebuilt: ready first (as an orchestrator would wait).
      for (let i = 0; ; i++) {
        const ready = await fetch(`http://127.0.0.1:${freshnessPort}/health/ready`).catch(() => null);
        if (ready?.ok) break;
        if (i > 300) throw new Error('the freshness run never became ready');
        await sleep(100);
      }
      return await viewer(
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
        samples,
      );
    } finally {
      await producer.disconnect();
    }
  } finally {
    await run.stop();
  }
}

const results: Record<string, string> = {};
try {
  if (flags.only === 'memory') {
    const drains = await memoryDrains(Number(flags['memory-plays']), Number(flags['memory-repeat']));
    const peaks = drains.map((d) => d.peakRssMb);
    console.log(
      `peak RSS of B (${DEFAULT_SINK}) draining ${Number(flags['memory-plays']).toLocaleString('en')} plays: ` +
        `${peaks.map((p) => p.toFixed(0)).join(', ')} MB (median ${median(peaks).toFixed(0)}); ` +
        `rates ${drains.map((d) => d.rate.toFixed(0)).join(', ')}/s`,
    );
  } else if (flags.only === 'drains') {
    const topic = await freshTopic();
    await preload(topic, N);
    const service = perSink<number[]>(() => []);
    const atRoundTrip = perSink<number[]>(() => []);
    // Not counted: the first drain of a new topic meets a cold broker (the full run's A takes that turn).
    await drainWith(topic, DEFAULT_SINK, instant);
    for (let i = 0; i < REPEAT; i++) {
      for (const sink of inTurn(i)) {
        service[sink].push((await drainWith(topic, sink, instant)).rate);
        atRoundTrip[sink].push((await drainWith(topic, sink, slow)).rate);
      }
      say(
        `round ${i + 1}: ` +
          SINKS.map(
            (sink) =>
              `B ${sink} ${service[sink].at(-1)!.toFixed(0)}/s (${atRoundTrip[sink].at(-1)!.toFixed(0)}/s at ${ROUND_TRIP_MS} ms)`,
          ).join(', '),
      );
    }
    // Side by side in each round, so the machine's drift cancels out of each ratio.
    const report = (label: string, rates: Record<Sink, number[]>) => {
      const ratios = rates[EO].map((rate, i) => rate / rates[SW][i]!);
      return (
        `${SINKS.map((sink) => `B ${sink}${label}: ${rates[sink].map((r) => r.toFixed(0)).join(', ')} (median ${median(rates[sink]).toFixed(0)})`).join('\n')}\n` +
        `exactly-once / at-least-once${label}: ${(median(rates[EO]) / median(rates[SW])).toFixed(2)} of the medians; ` +
        `per round ${ratios.map((r) => r.toFixed(2)).join(', ')} (median ${median(ratios).toFixed(2)})`
      );
    };
    console.log(`${report('', service)}\n${report(` at ${ROUND_TRIP_MS} ms`, atRoundTrip)}`);
  } else {
    const topic = await freshTopic();
    await preload(topic, N);

    const bare: number[] = [];
    const service = perSink<number[]>(() => []);
    const atRoundTrip = perSink<number[]>(() => []);
    const requestsPer1000 = perSink(() => 0);
    const original: number[] = [];
    // The default sink with the live view on (LIVE_ENABLED=true), beside it in each round: what counting,
    // publishing and reading back the deltas cost.
    const liveOn: number[] = [];
    for (let i = 0; i < REPEAT; i++) {
      bare.push(await drainBare(topic));
      for (const sink of inTurn(i)) {
        const b = await drainWith(topic, sink, instant);
        service[sink].push(b.rate);
        requestsPer1000[sink] = b.requestsPer1000;
        atRoundTrip[sink].push((await drainWith(topic, sink, slow)).rate);
        if (sink === DEFAULT_SINK)
          liveOn.push((await drainWith(topic, sink, instant, N, { LIVE_ENABLED: 'true' })).rate);
      }
      original.push(await runOriginal(topic, fake, instant.rest, 10));
      say(
        `round ${i + 1}: A ${bare.at(-1)!.toFixed(0)}/s, ` +
          SINKS.map(
            (sink) =>
              `B ${sink} ${service[sink].at(-1)!.toFixed(0)}/s (${atRoundTrip[sink].at(-1)!.toFixed(0)}/s at ${ROUND_TRIP_MS} ms)`,
          ).join(', ') +
          `, B ${DEFAULT_SINK} live on ${liveOn.at(-1)!.toFixed(0)}/s, C ${original.at(-1)!.toFixed(0)}/s`,
      );
    }
    const A = median(bare);
    const C = median(original);
    const B = perSink(() => 0);
    const B75 = perSink(() => 0);
    for (const sink of SINKS) {
      B[sink] = median(service[sink]);
      B75[sink] = median(atRoundTrip[sink]);
    }

    // B on the real emulator (local-bigquery: REST and its Write API), for information.
    const emulatorPlays = Number(flags['emulator-plays']);
    const onEmulator = {} as Record<Sink, number>;
    for (const sink of SINKS) {
      const emulatorTopic = await freshTopic();
      await preload(emulatorTopic, emulatorPlays);
      onEmulator[sink] = (await drainService(emulatorTopic, emulatorPlays, sink, emulator, () => emulatorPlays)).rate;
    }

    // Dashboard freshness: produce to a dashboard viewer's screen, on the emulator, at default
    // settings: polling with the live view off (as before it), then through the live view.
    const freshness = await dashboardFreshness(
      { LIVE_ENABLED: 'false' },
      measureDashboardFreshness,
      Number(flags['freshness-samples']),
    );
    const liveFreshness = await dashboardFreshness(
      { LIVE_ENABLED: 'true' },
      measureLiveFreshness,
      Number(flags['live-samples']),
    );
    const freshnessSorted = [...freshness].sort((a, b) => a - b);
    const liveSorted = [...liveFreshness].sort((a, b) => a - b);
    const liveP99 = liveSorted[Math.min(liveSorted.length - 1, Math.floor(liveSorted.length * 0.99))]!;

    // Latency: a steady 1,000 plays/s through B with the default sink, produce to row.
    const latencyTopic = await freshTopic();
    const latencyCounter = counterOf(DEFAULT_SINK, instant);
    latencyCounter.reset();
    const latencyRun = startService(latencyTopic, DEFAULT_SINK, instant);
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
      const sorted = [...latencyCounter.latencies].sort((a, b) => a - b);
      if (sorted.length < seconds * 1_000)
        throw new Error(`latency run wrote ${sorted.length} of ${seconds * 1_000} plays`);
      p50 = sorted[Math.floor(sorted.length * 0.5)]!;
      p99 = sorted[Math.floor(sorted.length * 0.99)]!;
    } finally {
      await latencyRun.stop();
    }

    // Memory: peak RSS of B (default sink) draining a 1,000,000-play backlog.
    const memoryPlays = Number(flags['memory-plays']);
    const memory = (await memoryDrains(memoryPlays, 1))[0]!;

    results.A = A.toFixed(0);
    results.Beo = B[EO].toFixed(0);
    results.Bsw = B[SW].toFixed(0);
    results.Bia = B[IA].toFixed(0);
    results.C = C.toFixed(0);
    results['B/A'] = (B[DEFAULT_SINK] / A).toFixed(2);
    results['B/C'] = (B[DEFAULT_SINK] / C).toFixed(0);
    results['Bsw/Bia'] = (B[SW] / B[IA]).toFixed(2);
    results['Beo/Bsw'] = (B[EO] / B[SW]).toFixed(2);
    results.B75eo = B75[EO].toFixed(0);
    results.B75sw = B75[SW].toFixed(0);
    results.B75ia = B75[IA].toFixed(0);
    results.requestsEo = requestsPer1000[EO].toFixed(2);
    results.requestsSw = requestsPer1000[SW].toFixed(2);
    results.requestsIa = requestsPer1000[IA].toFixed(2);
    results.emulatorEo = onEmulator[EO].toFixed(0);
    results.emulatorSw = onEmulator[SW].toFixed(0);
    results.emulatorIa = onEmulator[IA].toFixed(0);
    results.p50 = (p50 / 1000).toFixed(3);
    results.p99 = (p99 / 1000).toFixed(3);
    results.rss = memory.peakRssMb.toFixed(0);
    results.freshnessP50 = (median(freshnessSorted) / 1000).toFixed(1);
    results.freshnessMax = (freshnessSorted.at(-1)! / 1000).toFixed(1);
    results.liveP50 = (median(liveSorted) / 1000).toFixed(2);
    results.liveP99 = (liveP99 / 1000).toFixed(2);
    results.liveMax = (liveSorted.at(-1)! / 1000).toFixed(2);
    results.liveOn = median(liveOn).toFixed(0);
    results['live on/off'] = (median(liveOn) / median(service[DEFAULT_SINK])).toFixed(2);
    results.liveRatios = service[DEFAULT_SINK].map((rate, i) => (liveOn[i]! / rate).toFixed(2)).join(', ');
    results.memoryRate = memory.rate.toFixed(0);

    // The figures for tools and for the next issue's comparisons (git-ignored).
    const figures = {
      a_plays_per_s: Math.round(A),
      b_insert_all_plays_per_s: Math.round(B[IA]),
      // The default stream (at-least-once), as issue 13 measured it; exactly-once (the default) beside it.
      b_storage_write_plays_per_s: Math.round(B[SW]),
      b_storage_write_exactly_once_plays_per_s: Math.round(B[EO]),
      c_plays_per_s: Math.round(C),
      b_insert_all_at_75ms_plays_per_s: Math.round(B75[IA]),
      b_storage_write_at_75ms_plays_per_s: Math.round(B75[SW]),
      b_storage_write_exactly_once_at_75ms_plays_per_s: Math.round(B75[EO]),
      latency_p99_s: p99 / 1000,
      dashboard_freshness_p99_s: liveP99 / 1000,
      dashboard_freshness_polling_p50_s: median(freshnessSorted) / 1000,
      b_storage_write_exactly_once_live_on_plays_per_s: Math.round(median(liveOn)),
      peak_rss_mb: Math.round(memory.peakRssMb),
    };
    fs.writeFileSync(path.join(root, 'bench-results.json'), `${JSON.stringify(figures, null, 2)}\n`);
    say('wrote bench-results.json');

    const rt = `${ROUND_TRIP_MS} ms`;
    const table = [
      '| measure | value | bar |',
      '| --- | --- | --- |',
      `| A: bare kafkajs eachBatch, decode + validate (plays/s, median of ${REPEAT}) | ${results.A} | |`,
      `| B storage-write exactly-once (the default): plays-pipeline into a gRPC Write API stand-in answering at once (plays/s, median of ${REPEAT}) | ${results.Beo} | |`,
      `| B storage-write at-least-once (the default stream), same stand-in (plays/s, median of ${REPEAT}) | ${results.Bsw} | |`,
      `| B insert-all: plays-pipeline into an insertAll stand-in answering at once (plays/s, median of ${REPEAT}) | ${results.Bia} | |`,
      `| C: original design, one awaited insertAll per play (plays/s, median of ${REPEAT}) | ${results.C} | |`,
      `| B/A (default sink) | ${results['B/A']} | ≥ 0.8 |`,
      `| B/C (default sink) | ${results['B/C']} | ≥ 50 |`,
      `| B storage-write / B insert-all (both at-least-once) | ${results['Bsw/Bia']} | ≥ 0.8 |`,
      `| B storage-write exactly-once / at-least-once | ${results['Beo/Bsw']} | ≥ 0.9 |`,
      `| B storage-write exactly-once, every append answered after ${rt} (plays/s, median of ${REPEAT}) | ${results.B75eo} | ≥ 50,000 |`,
      `| B storage-write at-least-once, every append answered after ${rt} (plays/s, median of ${REPEAT}) | ${results.B75sw} | ≥ 50,000 |`,
      `| B insert-all, every insertAll answered after ${rt} (plays/s, median of ${REPEAT}) | ${results.B75ia} | |`,
      `| requests per 1,000 rows, saturated: exactly-once appends / at-least-once appends / insertAll requests | ${results.requestsEo} / ${results.requestsSw} / ${results.requestsIa} | |`,
      `| B into the local-bigquery emulator, storage-write exactly-once / at-least-once / insert-all (plays/s, ${emulatorPlays} plays, for information) | ${results.emulatorEo} / ${results.emulatorSw} / ${results.emulatorIa} | |`,
      `| produce-to-row latency p50 / p99 at 1,000 plays/s, default sink (s) | ${results.p50} / ${results.p99} | p99 ≤ 1.5 |`,
      `| B ${DEFAULT_SINK} with the live view on (plays/s, median of ${REPEAT}); B with it on / off (the default), of the medians (per round) | ${results.liveOn}; ${results['live on/off']} (${results.liveRatios}) | ≥ 0.95 |`,
      `| dashboard freshness, live view on (SSE, then /api/top-songs from memory): produce to a viewer's screen on the emulator, otherwise default settings, median / p99 / worst of ${liveFreshness.length} (s) | ${results.liveP50} / ${results.liveP99} / ${results.liveMax} | p99 ≤ 1 |`,
      `| dashboard freshness, polling every 2 s with the live view off (the default; each answer a BigQuery query), median / worst of ${freshness.length} (s) | ${results.freshnessP50} / ${results.freshnessMax} | ≤ 5 |`,
      `| peak RSS of B (default sink) draining ${memoryPlays.toLocaleString('en')} plays (MB); its drain rate | ${results.rss} MB; ${results.memoryRate}/s | ≤ 256 MB |`,
    ].join('\n');
    console.log(`\n${table}\n`);

    const machine = `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, ${os.type()} ${os.release()}`;
    const kafkaVersion =
      /Apache Kafka ([\d.]+)/.exec(fs.readFileSync(path.join(root, 'README.md'), 'utf8'))?.[1] ?? '4.x';
    const doc = `# Benchmarks

Measured by \`npm run bench\` (bench/run.ts) in one run on one machine, side by side, against one local
single-node Kafka broker (deps:up). A topic of ${N.toLocaleString('en')} plays in the original format
(${PARTITIONS} partitions) is drained from offset 0 by a fresh consumer group each time; each drain is
repeated ${REPEAT} times (in each round the sinks go in turn, none always first) and the median is reported. Rates are counted from the consumer's group join to
the last play (B: to the last row written **and** every offset committed). The figures are also written to
\`bench-results.json\` (not committed).

- **A** is the ceiling: a bare kafkajs \`eachBatch\` consumer that decodes and validates each play.
- **B** is plays-pipeline itself (dist/main.js: ingest, validation, batching, sink, commits), once per
  write path (\`SINK_API\`, and for storage-write each \`SINK_DELIVERY\`), each at its default settings, writing to a local stand-in for its API that
  answers at once and counts rows, so the figure is ours and not an emulator's: for \`storage-write\` a
  gRPC server of the Write API's own service definition (bench/fake-storage-write.ts, from the proto
  that @google-cloud/bigquery-storage ships), for \`insert-all\` an HTTP server (bench/fake-bigquery.ts).
  **B at ${rt}** is the same drain against the same stand-ins answering every request after ${rt},
  as a real BigQuery round trip does: what one instance sustains against BigQuery.
- **C** is the original design on NestJS defaults: \`ServerKafka\`'s \`eachMessage\` handler awaiting one
  insertAll per play against the insertAll stand-in, for 10 s.
- **Dashboard freshness** is the time from producing one play into Kafka to the first GET /api/top-songs
  answer that counts it, with the service at its default settings writing to the BigQuery emulator; the
  plays are sent one at a time at random moments. Through the live view (\`LIVE_ENABLED=true\`) the viewer
  listens to GET /api/live and asks again on each event, as the page does; with it off (the default) the
  viewer asks every 2 s and each answer is a BigQuery query.

${table}

Run on ${new Date().toISOString().slice(0, 10)}: ${machine}; Node ${process.versions.node}; Apache Kafka ${kafkaVersion}
(single node, KRaft); kafkajs 2.2.4; service node flags (the image's NODE_OPTIONS and CMD): ${SERVICE_NODE_OPTIONS.join(' ') || 'none'}; the image's other environment: ${imageEnvText}; each sink at its default settings (README's configuration table).
The machine is small and shared, so figures move by tens of percent between runs; the ratios, measured side
by side, move less.
`;
    // The analysis below the figures is written by hand; a new run keeps it.
    const docPath = path.join(root, 'docs/BENCHMARKS.md');
    const previous = fs.existsSync(docPath) ? fs.readFileSync(docPath, 'utf8') : '';
    const analysis = previous.indexOf(ANALYSIS_HEADING);
    fs.writeFileSync(docPath, analysis === -1 ? doc : `${doc}\n${previous.slice(analysis)}`);
    say('wrote docs/BENCHMARKS.md');
  }
} finally {
  await admin.disconnect();
  await Promise.all([fake.stop(), fakeWrite.stop(), slowFake.stop(), slowFakeWrite.stop()]);
  deps('down');
}
