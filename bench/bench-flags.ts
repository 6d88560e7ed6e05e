import { parseArgs } from 'node:util';

/** npm run bench's options (bench/run.ts lists them), each as given or its default. */
export function parseBenchFlags() {
  return parseArgs({
    options: {
      plays: { type: 'string', default: '200000' },
      repeat: { type: 'string', default: '3' },
      // Drains of the default sink with the live view off and on, side by side, per round of the full run.
      'live-pairs': { type: 'string', default: '4' },
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
  }).values;
}

export type BenchFlags = ReturnType<typeof parseBenchFlags>;

/** --only names one section: 'memory', 'drains' or 'live'. */
export function checkOnly(only: string | undefined): void {
  if (only !== undefined && only !== 'memory' && only !== 'drains' && only !== 'live')
    throw new Error(`--only ${only}: only 'memory', 'drains' and 'live' are known`);
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
