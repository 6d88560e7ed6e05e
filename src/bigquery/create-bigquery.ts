import { BigQuery } from '@google-cloud/bigquery';
import { PassThroughClient } from 'google-auth-library';
import type { Env } from '../config/env.schema.js';

export type BigQuerySettings = Pick<
  Env,
  'BIGQUERY_PROJECT_ID' | 'BIGQUERY_API_ENDPOINT' | 'BIGQUERY_LOCATION' | 'GOOGLE_APPLICATION_CREDENTIALS'
>;

/**
 * The official client, pointed at real BigQuery (Application Default Credentials, or the key file
 * GOOGLE_APPLICATION_CREDENTIALS names) or, when BIGQUERY_API_ENDPOINT is set, at an emulator,
 * which needs no credentials: the pass-through auth client sends none and looks none up.
 */
export function createBigQuery(settings: BigQuerySettings, options: { autoRetry?: boolean } = {}): BigQuery {
  const common = { projectId: settings.BIGQUERY_PROJECT_ID, location: settings.BIGQUERY_LOCATION, ...options };
  if (settings.BIGQUERY_API_ENDPOINT) {
    return new BigQuery({
      ...common,
      apiEndpoint: settings.BIGQUERY_API_ENDPOINT,
      authClient: new PassThroughClient(),
    });
  }
  return new BigQuery({ ...common, keyFilename: settings.GOOGLE_APPLICATION_CREDENTIALS });
}
