#!/usr/bin/env node
// `npm run stack`: the whole pipeline on this machine. Starts Kafka and the BigQuery emulator
// (deps:up), builds the service when its build is missing or stale, then runs it in the
// foreground with the simulator on. Ctrl-C stops the service and everything deps:up started.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const say = (/** @type {string} */ message) => process.stderr.write(`stack: ${message}\n`);

/** @param {string} dir */
function newestMtime(dir) {
  let newest = 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) newest = Math.max(newest, fs.statSync(path.join(entry.parentPath, entry.name)).mtimeMs);
  }
  return newest;
}

/**
 * @param {string} command
 * @param {string[]} args
 * @param {Omit<import('node:child_process').SpawnSyncOptions, 'encoding'>} [options]
 */
function run(command, args, options = {}) {
  const result = spawnSync(command, args, {
    cwd: root,
    stdio: ['ignore', 'pipe', 'inherit'],
    encoding: 'utf8',
    ...options,
  });
  if (result.status !== 0) {
    say(`${path.basename(command)} ${args.join(' ')} failed (exit ${result.status})`);
    process.exit(result.status ?? 1);
  }
  return result.stdout ?? '';
}

const deps = (/** @type {string[]} */ ...args) =>
  run(process.execPath, ['--disable-warning=TimeoutNegativeWarning', path.join(root, 'scripts/deps.mjs'), ...args]);

const settings = Object.fromEntries(
  deps('up')
    .split('\n')
    .map((line) => /^([A-Z_]+)=(.*)$/.exec(line))
    .filter((match) => match !== null)
    .map((match) => [match[1], match[2]]),
);

const main = path.join(root, 'dist', 'main.js');
if (!fs.existsSync(main) || fs.statSync(main).mtimeMs < newestMtime(path.join(root, 'src'))) {
  say('building the service (nest build)');
  run(path.join(root, 'node_modules', '.bin', 'nest'), ['build'], { stdio: 'inherit' });
}

const port = process.env.PORT || '3000';
const env = {
  ...process.env,
  ...settings,
  PORT: port,
  SIMULATOR_ENABLED: process.env.SIMULATOR_ENABLED ?? 'true',
  LOG_FORMAT: process.env.LOG_FORMAT ?? 'pretty',
};
say(
  `Kafka ${settings.KAFKA_BROKERS}, BigQuery emulator ${settings.BIGQUERY_API_ENDPOINT} (Write API ${settings.BIGQUERY_STORAGE_API_ENDPOINT}, project ${settings.BIGQUERY_PROJECT_ID})`,
);
say(
  `dashboard on http://localhost:${port}/dashboard; also /health/ready, /metrics; broker and emulator logs in .deps/`,
);
say('Ctrl-C stops everything');

const service = spawn(process.execPath, ['--enable-source-maps', '--disable-warning=TimeoutNegativeWarning', main], {
  cwd: root,
  env,
  stdio: 'inherit',
});

let stopping = false;
const stop = (/** @type {NodeJS.Signals} */ signal) => {
  if (stopping) return;
  stopping = true;
  say(`${signal}: stopping the service`);
  service.kill('SIGTERM');
};
process.on('SIGINT', () => stop('SIGINT'));
process.on('SIGTERM', () => stop('SIGTERM'));

service.on('exit', (code, signal) => {
  say(`service exited (${signal ?? `code ${code}`}); stopping Kafka and the emulator`);
  spawnSync(process.execPath, [path.join(root, 'scripts/deps.mjs'), 'down'], { cwd: root, stdio: 'inherit' });
  process.exit(code ?? 0);
});
