import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { GoogleAuth } from 'google-auth-library';
import type { TestProject } from 'vitest/node';
import { depsDown, depsUp } from './deps.js';

const root = path.resolve(import.meta.dirname, '../..');

/**
 * For `npm run test:bigquery` only: decides whether the real-BigQuery smoke test can run (a project in
 * PLAYS_BIGQUERY_PROJECT and credentials that give an access token), and only then builds the
 * service and starts a Kafka broker (the tests' own deps:up instance, or KAFKA_BROKERS when set).
 */
export default async function setup(project: TestProject): Promise<(() => Promise<void>) | undefined> {
  const projectId = process.env.PLAYS_BIGQUERY_PROJECT?.trim();
  if (!projectId) {
    project.provide('realBigQuery', {
      skip: 'no PLAYS_BIGQUERY_PROJECT: set it to a Google Cloud project, with Application Default Credentials (gcloud auth application-default login) or GOOGLE_APPLICATION_CREDENTIALS',
    });
    return undefined;
  }
  try {
    await new GoogleAuth({ scopes: ['https://www.googleapis.com/auth/bigquery'] }).getAccessToken();
  } catch (error) {
    project.provide('realBigQuery', {
      skip: `PLAYS_BIGQUERY_PROJECT is ${projectId}, but no usable Google credentials: ${error instanceof Error ? error.message : String(error)}`,
    });
    return undefined;
  }
  execFileSync(path.join(root, 'node_modules/.bin/nest'), ['build'], { cwd: root, stdio: 'inherit' });
  const location = process.env.PLAYS_BIGQUERY_LOCATION?.trim() || undefined;
  if (process.env.KAFKA_BROKERS) {
    project.provide('realBigQuery', { projectId, location, kafkaBrokers: process.env.KAFKA_BROKERS });
    return undefined;
  }
  const { KAFKA_BROKERS } = await depsUp();
  project.provide('realBigQuery', { projectId, location, kafkaBrokers: KAFKA_BROKERS });
  return async () => {
    await depsDown();
  };
}
