import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { depsDown, depsUp, type DepsEnv } from './deps.js';

const root = path.resolve(import.meta.dirname, '../..');

/** The integration tests run the real service (dist/main.js): build it when src/ is newer. */
function buildIfStale(): void {
  const main = path.join(root, 'dist/main.js');
  const newestSource = fs
    .readdirSync(path.join(root, 'src'), { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .reduce((newest, entry) => Math.max(newest, fs.statSync(path.join(entry.parentPath, entry.name)).mtimeMs), 0);
  if (fs.existsSync(main) && fs.statSync(main).mtimeMs >= newestSource) return;
  execFileSync(path.join(root, 'node_modules/.bin/nest'), ['build'], { cwd: root, stdio: 'inherit' });
}

declare module 'vitest' {
  export interface ProvidedContext {
    deps: DepsEnv & { managed: boolean };
  }
}

/**
 * Integration tests run against a real Kafka broker and BigQuery emulator: the ones named by
 * KAFKA_BROKERS and BIGQUERY_API_ENDPOINT when both are set (e.g. a docker-compose stack), otherwise
 * the tests' own deps:up instance, started here and stopped afterwards. Nothing is ever skipped:
 * if the dependencies cannot be reached, the run fails.
 */
export default async function setup(project: TestProject): Promise<(() => Promise<void>) | undefined> {
  buildIfStale();
  const { KAFKA_BROKERS, BIGQUERY_API_ENDPOINT, BIGQUERY_STORAGE_API_ENDPOINT, BIGQUERY_PROJECT_ID } = process.env;
  if (KAFKA_BROKERS && BIGQUERY_API_ENDPOINT) {
    project.provide('deps', {
      KAFKA_BROKERS,
      BIGQUERY_API_ENDPOINT,
      // The emulator's gRPC port is its REST port + 10 unless said otherwise (deps:up, docker-compose.yaml).
      BIGQUERY_STORAGE_API_ENDPOINT:
        BIGQUERY_STORAGE_API_ENDPOINT ??
        `${new URL(BIGQUERY_API_ENDPOINT).hostname}:${Number(new URL(BIGQUERY_API_ENDPOINT).port) + 10}`,
      BIGQUERY_PROJECT_ID: BIGQUERY_PROJECT_ID ?? 'plays-test',
      managed: false,
    });
    return undefined;
  }
  const env = await depsUp();
  project.provide('deps', { ...env, managed: true });
  return async () => {
    await depsDown();
  };
}
