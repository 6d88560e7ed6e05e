import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { promisify } from 'node:util';
import type { BenchContext } from './bench-context.js';

const runFile = promisify(execFile);

/**
 * A: the ceiling, a bare kafkajs eachBatch consumer that decodes and validates every play
 * (bench/bare-consumer.ts, a fresh process each time). Its plays per second.
 */
export async function drainBare({ root, settings, plays }: BenchContext, topic: string): Promise<number> {
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
        BENCH_COUNT: String(plays),
      },
    },
  );
  const { valid, ms } = JSON.parse(stdout.trim().split('\n').at(-1)!) as { valid: number; ms: number };
  if (valid !== plays) throw new Error(`bare consumer saw ${valid} valid plays of ${plays}`);
  return plays / (ms / 1000);
}
