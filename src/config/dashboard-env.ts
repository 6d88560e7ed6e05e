import { bool, int } from './env-fields.js';

/** The top-songs API and dashboard, and the bounds on the BigQuery queries they cost. */
export const dashboardEnv = {
  DASHBOARD_ENABLED: bool(true).describe(
    'Serve the top-songs API (GET /api/top-songs, /api/artists, /api/plays-over-time) and the live dashboard (GET /dashboard), read from the plays table.',
  ),
  DASHBOARD_CACHE_MS: int(0, 60_000, 1_000).describe(
    'How long an answer of the top-songs API is reused, so any number of viewers of the same question costs one BigQuery query.',
  ),
  DASHBOARD_MAX_QUERIES_PER_SECOND: int(1, 1_000, 4).describe(
    'Ceiling on BigQuery queries a second for the whole top-songs API, whatever is asked; a burst of as many may run at once.',
  ),
  DASHBOARD_MAX_QUERY_WAIT_MS: int(0, 60_000, 2_000).describe(
    'Longest a question waits for its turn under DASHBOARD_MAX_QUERIES_PER_SECOND; beyond, the API answers 429 with Retry-After.',
  ),
  DASHBOARD_MAX_BYTES_BILLED: int(10_485_760, Number.MAX_SAFE_INTEGER, 1_073_741_824).describe(
    "BigQuery's maximumBytesBilled for each top-songs query: a query that would bill more fails (503) instead. The default, 1 GiB, holds a 15-minute window of a table of a million plays a day (100-200 MB: about 100 bytes a play, its day partitions) five times over, and a 30-day window of about 300,000 plays a day; it stops a runaway (an unpartitioned table, a far larger one) at about $0.006 a query (on-demand, $6.25 a TiB). Raise it for a bigger table (at most 9007199254740991, in effect no cap).",
  ),
};
