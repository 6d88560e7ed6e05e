import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, '../..');

/** Where the integration tests find Kafka and BigQuery: the app's own variable names. */
export interface DepsEnv {
  KAFKA_BROKERS: string;
  BIGQUERY_API_ENDPOINT: string;
  /** The emulator's Storage Write API (gRPC), host:port. */
  BIGQUERY_STORAGE_API_ENDPOINT: string;
  BIGQUERY_PROJECT_ID: string;
}

/**
 * The tests' own deps:up instance: its own folder and ports, so it never touches a developer's stack.
 * PLAYS_TEST_KAFKA_PORT / PLAYS_TEST_EMULATOR_PORT move it, so two checkouts can run `npm test` at once.
 */
const kafkaPort = process.env.PLAYS_TEST_KAFKA_PORT ?? '19092';
const emulatorPort = process.env.PLAYS_TEST_EMULATOR_PORT ?? '19050';
export const testDeps = {
  dir: path.join(root, '.deps', `test-${kafkaPort}-${emulatorPort}`),
  args: ['--kafka-port', kafkaPort, '--emulator-port', emulatorPort, '--project-id', 'plays-test'],
};

async function deps(...args: string[]): Promise<string> {
  const { stdout } = await run(
    process.execPath,
    ['--disable-warning=TimeoutNegativeWarning', path.join(root, 'scripts/deps.mjs'), ...args, '--dir', testDeps.dir],
    {
      cwd: root,
      maxBuffer: 10 * 1024 * 1024,
    },
  );
  return stdout;
}

export async function depsUp(): Promise<DepsEnv> {
  const stdout = await deps('up', ...testDeps.args);
  const env = Object.fromEntries(
    stdout
      .split('\n')
      .map((line) => /^([A-Z_]+)=(.*)$/.exec(line))
      .filter((match) => match !== null)
      .map((match) => [match[1], match[2]]),
  ) as Partial<DepsEnv>;
  const { KAFKA_BROKERS, BIGQUERY_API_ENDPOINT, BIGQUERY_STORAGE_API_ENDPOINT, BIGQUERY_PROJECT_ID } = env;
  if (!KAFKA_BROKERS || !BIGQUERY_API_ENDPOINT || !BIGQUERY_STORAGE_API_ENDPOINT || !BIGQUERY_PROJECT_ID)
    throw new Error(`deps:up printed no settings:\n${stdout}`);
  return { KAFKA_BROKERS, BIGQUERY_API_ENDPOINT, BIGQUERY_STORAGE_API_ENDPOINT, BIGQUERY_PROJECT_ID };
}

export const depsDown = () => deps('down');
/** Stops or restarts one dependency of the tests' own instance (outage tests). */
export const stopDep = (name: 'kafka' | 'emulator') => deps('stop', name);
export const startDep = (name: 'kafka' | 'emulator') => deps('start', name);
