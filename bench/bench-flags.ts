import { parseArgs } from 'node:util';
import { z } from 'zod';
import { int } from '../src/config/env-fields.js';

const count = (fallback: number, max = 1_000_000_000) => int(1, max, fallback);
const port = (fallback: number, max = 65_535) => int(1, max, fallback);

/** npm run bench's options (bench/run.ts lists them): checked, with their defaults. */
const FLAGS = z.object({
  plays: count(200_000),
  repeat: count(3, 1_000),
  // Drains of the default sink with the live view off and on, side by side, per round of the full run.
  'live-pairs': count(4, 1_000),
  'latency-seconds': count(30, 86_400),
  'memory-plays': count(1_000_000),
  'emulator-plays': count(20_000),
  'freshness-samples': count(20, 100_000),
  // Through the live view: more, so its p99 is not simply the worst of 20.
  'live-samples': count(60, 100_000),
  'round-trip-ms': int(0, 60_000, 75),
  'kafka-port': port(39_092),
  // Its gRPC port is 10 above.
  'emulator-port': port(39_050, 65_525),
  'service-port': port(3_000),
  'freshness-port': port(39_300),
  only: z.enum(['memory', 'drains', 'live'], { error: "only 'memory', 'drains' and 'live' are known" }).optional(),
  'memory-repeat': count(1, 1_000),
  'service-logs': z.string().optional(),
  // Extra node flags for the service under test, e.g. --service-node-options=--max-old-space-size=128
  'service-node-options': z.string().default(''),
  // Extra settings for the service under test, e.g. --service-env='SINK_MAX_BUFFERED_ROWS=10000 SINK_MAX_IN_FLIGHT=4'
  'service-env': z.string().default(''),
});

export type BenchFlags = z.infer<typeof FLAGS>;

/**
 * The options in `args`, each checked (a count at least 1, a port a port): a bad one fails here,
 * naming the flag and what it must be, rather than as an empty median or a NaN in the report.
 */
export function parseBenchFlags(args: string[] = process.argv.slice(2)): BenchFlags {
  const options = Object.fromEntries(Object.keys(FLAGS.shape).map((flag) => [flag, { type: 'string' as const }]));
  const { values } = parseArgs({ args, options });
  const parsed = FLAGS.safeParse(values);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((issue) => {
    const flag = String(issue.path[0]);
    return `--${flag} ${JSON.stringify(values[flag])}: ${issue.message}`;
  });
  throw new Error(problems.join('; '));
}

/** --service-env's `NAME=value ...` settings. */
export function serviceEnvOf(text: string): Record<string, string> {
  return Object.fromEntries(
    text
      .split(' ')
      .filter(Boolean)
      .map((setting) => [setting.slice(0, setting.indexOf('=')), setting.slice(setting.indexOf('=') + 1)]),
  );
}
