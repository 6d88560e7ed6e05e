import { QUOTA_REASONS } from '../../bigquery/error-reasons.js';
import type { FaultAction } from '../faults.js';

// insertAll's fault table (tabledata.insertAll, JSON over HTTP): its errors sorted into the sink's fault classes.

/**
 * Per-row `insertErrors` reasons. `invalid`: the row itself is bad. `stopped`: the row was fine but
 * not written because another row of the request was invalid. Any other reason (backendError,
 * internalError, timeout, ...) is BigQuery's trouble, not the row's: written again.
 */
export const INSERT_ALL_ROW_REASONS: Readonly<Record<string, FaultAction>> = {
  invalid: 'dead-letter',
  stopped: 'retry',
};
const INSERT_ALL_ROW_DEFAULT: FaultAction = 'retry';

/** A row's action from all its reasons: dead-lettered only when BigQuery calls it invalid. */
export function insertAllRowAction(reasons: readonly (string | undefined)[]): FaultAction {
  const actions = reasons.map((reason) => INSERT_ALL_ROW_REASONS[reason ?? ''] ?? INSERT_ALL_ROW_DEFAULT);
  return actions.includes('dead-letter') ? 'dead-letter' : 'retry';
}

/**
 * A failed insertAll request, by HTTP status (null: no answer: a network error or a timeout) and
 * BigQuery's error reason and message.
 */
export function insertAllRequestAction(status: number | null, reason?: string, message = ''): FaultAction {
  if (status === null) return 'retry';
  if (status === 413 || (status === 400 && /too large|payload size|exceeds/i.test(message))) return 'split';
  if (status === 403 && QUOTA_REASONS.has(reason ?? '')) return 'retry';
  if (status === 408 || status === 429 || status >= 500) return 'retry';
  // 400 (a request BigQuery will never take), 401, 403, 404 (no such table): configuration.
  if (status >= 400) return 'stop';
  return 'retry';
}
