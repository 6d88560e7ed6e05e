// npm run bench: plays-pipeline's drain rate, with each sink (SINK_API), side by side with what kafkajs
// itself can consume and with the original per-message design, against stand-ins that answer at once
// and after 75 ms (a real round trip), plus latency and memory, on one local broker. Writes
// docs/BENCHMARKS.md and bench-results.json. Options: --plays N (200000), --repeat N (3),
// --latency-seconds N (30), --memory-plays N (1000000), --emulator-plays N (20000),
// --freshness-samples N (20), --live-samples N (60), --round-trip-ms N (75), --live-pairs N (4: drains of the
// default sink with the live view off and on, side by side, per round). Ports, so two checkouts can bench at once:
// --kafka-port N (39092), --emulator-port N (39050; its gRPC port is 10 above), --service-port N (the
// service's HTTP port during drains, 3000), --freshness-port N (39300). --only memory runs the memory
// section alone, --memory-repeat N times on one preloaded topic; --only drains runs B's drains alone
// (each sink, instant and at the round trip, --repeat times, alternated); --only live drains the default
// sink with the live view off and on, side by side, --repeat pairs; none of them writes an output file.
// Each drain of B prints (stderr) its time from the join, when its first and last rows came in, and the
// CPU seconds the service, the broker and this process (its stand-ins) spent on it.
// --service-logs DIR keeps each service run's log lines there.
import path from 'node:path';
import kafkajs, { type Admin, type Kafka } from 'kafkajs';
import type { BenchContext } from './bench-context.js';
import { BenchDeps } from './bench-deps.js';
import { parseBenchFlags, serviceEnvOf } from './bench-flags.js';
import { writeReport } from './benchmarks-report.js';
import { runDrainsOnly } from './drains-only.js';
import { fullRun } from './full-run.js';
import { runLiveOnly } from './live-only.js';
import { readImageRuntime } from './image-runtime.js';
import { runMemoryOnly } from './memory-only.js';
import { originalPlays } from './original-plays.js';
import { PlayTopics } from './play-topics.js';
import { say } from './say.js';
import { ServiceRunner } from './service-runner.js';
import { StandIns } from './stand-ins.js';

const root = path.resolve(import.meta.dirname, '../..');
const flags = (() => {
  try {
    return parseBenchFlags();
  } catch (error) {
    process.stderr.write(`bench: ${(error as Error).message}\n`);
    process.exit(2);
  }
})();
const image = await readImageRuntime(root, flags['service-node-options']);
const serviceEnv = serviceEnvOf(flags['service-env']);
const { plays, repeat } = flags;

const deps = new BenchDeps(root);
const settings = deps.up(String(flags['kafka-port']), String(flags['emulator-port']));
const kafka: Kafka = new kafkajs.Kafka({
  clientId: 'plays-bench',
  brokers: settings.KAFKA_BROKERS.split(','),
  logLevel: kafkajs.logLevel.NOTHING,
});
const admin: Admin = kafka.admin();
await admin.connect();

const originals = originalPlays();
const roundTripMs = flags['round-trip-ms'];
const standIns = await StandIns.start(roundTripMs, settings);
const topics = new PlayTopics(kafka, admin, originals);
const service = new ServiceRunner({
  root,
  settings,
  image,
  serviceEnv,
  servicePort: String(flags['service-port']),
  logsDir: flags['service-logs'],
  topics,
  standIns,
  brokerPid: () => deps.brokerPid(),
  roundTripMs,
  plays,
});
const bench: BenchContext = {
  root,
  flags,
  settings,
  image,
  kafka,
  originals,
  topics,
  standIns,
  service,
  plays,
  repeat,
  roundTripMs,
};

try {
  await topics.removeAll();
  if (flags.only === 'memory') await runMemoryOnly(bench);
  else if (flags.only === 'drains') await runDrainsOnly(bench);
  else if (flags.only === 'live') await runLiveOnly(bench);
  else writeReport(bench, await fullRun(bench));
} finally {
  await topics.removeAll().catch((error: unknown) => say(`could not delete the benchmark's topics: ${String(error)}`));
  await admin.disconnect();
  await standIns.stop();
  deps.down();
}
