import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { sleep } from '../src/retry/backoff.js';
import type { BenchContext } from './bench-context.js';
import { startProcess } from './start-process.js';

/**
 * C: the original design on NestJS defaults (one awaited insertAll per play), for a fixed time,
 * against the instant insertAll stand-in. Its plays per second.
 */
export async function runOriginal(
  { root, settings, standIns, flags }: BenchContext,
  topic: string,
  seconds: number,
): Promise<number> {
  const { fake } = standIns;
  fake.reset();
  const run = startProcess(
    root,
    path.join(root, 'dist-bench/bench/original-design.js'),
    {
      BENCH_BROKERS: settings.KAFKA_BROKERS,
      BENCH_TOPIC: topic,
      BENCH_GROUP: `original-${randomUUID()}`,
      BENCH_ENDPOINT: standIns.instant.rest,
    },
    { logsDir: flags['service-logs'] },
  );
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
