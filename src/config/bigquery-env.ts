import { z } from 'zod';
import { bool, name } from './env-fields.js';

// BigQuery dataset and table ids: letters, digits and underscores.
const bigQueryId = (fallback: string) => name(fallback, /^[A-Za-z0-9_]{1,1024}$/, 'must be letters, digits or "_"');

/** The BigQuery project, dataset and table the plays are written to and read from. */
export const bigQueryEnv = {
  BIGQUERY_PROJECT_ID: z
    .string({ error: 'is required: the Google Cloud project that holds the dataset' })
    .trim()
    .regex(/^([a-z0-9.-]+:)?[a-z][a-z0-9-]{4,28}[a-z0-9]$/, {
      error: 'must be a Google Cloud project id: 6-30 lower-case letters, digits or "-", starting with a letter',
    })
    .describe('Google Cloud project id. Required.'),
  BIGQUERY_API_ENDPOINT: z
    .url({ protocol: /^https?$/, error: 'must be an http(s) URL, e.g. http://127.0.0.1:9050' })
    .optional()
    .describe('BigQuery REST endpoint of an emulator; unset means real BigQuery with Application Default Credentials.'),
  BIGQUERY_LOCATION: z
    .string()
    .trim()
    .min(1)
    .optional()
    .describe('Dataset location used when the dataset is created (e.g. EU).'),
  BIGQUERY_DATASET: bigQueryId('music').describe('Dataset that holds the plays table.'),
  BIGQUERY_TABLE: bigQueryId('tony_allen_plays').describe('Table the plays are written to.'),
  BIGQUERY_CREATE_TABLE: bool(true).describe(
    'Create the dataset, the table and its <table>_top_songs view at start-up when they do not exist.',
  ),
};

/** Who the service is to Google Cloud. */
export const googleCredentialsEnv = {
  GOOGLE_APPLICATION_CREDENTIALS: z
    .string()
    .trim()
    .min(1)
    .optional()
    .describe('Path to a service-account key file; unset means Application Default Credentials. Secret: never logged.'),
};
