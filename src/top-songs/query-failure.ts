import { QUOTA_REASONS } from '../bigquery/error-reasons.js';

/** A query that got no answer in time (and was cancelled). */
export class QueryTimedOut extends Error {
  constructor(readonly timeoutMs: number) {
    super(`no answer within ${timeoutMs / 1000}s`);
  }
}

/** The question a failed query was about, for the words that say why it failed. */
export interface QueriedTable {
  tableId: string;
  maxBytesBilled: string;
}

/** What a BigQuery error is, as the API may say it. */
interface QueryFault {
  matches: (error: unknown) => boolean;
  says: (error: unknown, table: QueriedTable) => string;
  /** Asked again at once (once, within the query's time): a fault that the next request may not meet. */
  retry?: true;
}

const reasonsOf = (error: unknown) =>
  ((error as { errors?: { reason?: unknown }[] }).errors ?? []).map((e) => e.reason);
const codeOf = (error: unknown) => (error as { code?: unknown }).code;
/** The HTTP status of gaxios' errors (the client's ApiError says it as a numeric `code`). */
const statusOf = (error: unknown) => (error as { status?: unknown }).status;
/** A request that got no HTTP answer: a Node error code (ECONNRESET, EPIPE, ...), no status. */
const noAnswer = (error: unknown) => {
  const code = codeOf(error);
  return typeof code === 'string' && !/^\d+$/.test(code) && statusOf(error) === undefined;
};

// The first that matches says it; BigQuery's reasons are those of its REST errors.
const QUERY_FAULTS: QueryFault[] = [
  {
    matches: (error) => error instanceof QueryTimedOut,
    says: (error) =>
      `BigQuery gave no answer within ${(error as QueryTimedOut).timeoutMs / 1000}s; the query was cancelled`,
  },
  {
    // A 404 from jobs.query; a job that failed reports the reason in its status instead.
    matches: (error) => codeOf(error) === 404 || reasonsOf(error).includes('notFound'),
    says: (_, { tableId }) => `the plays table ${tableId} does not exist yet`,
  },
  {
    matches: (error) => reasonsOf(error).includes('bytesBilledLimitExceeded'),
    says: (_, { maxBytesBilled }) =>
      `the query would bill more than DASHBOARD_MAX_BYTES_BILLED (${maxBytesBilled} bytes)`,
  },
  {
    matches: (error) => codeOf(error) === 401 || reasonsOf(error).includes('accessDenied'),
    says: () => 'BigQuery refused the query: no permission',
  },
  {
    matches: (error) => reasonsOf(error).some((r) => typeof r === 'string' && QUOTA_REASONS.has(r)),
    says: () => 'BigQuery refused the query: over a quota',
  },
  {
    // No answer: Node's error code (ECONNRESET, say, when the server closes an idle keep-alive
    // connection just as it is reused); or BigQuery's own trouble (5xx, backendError, internalError).
    matches: (error) =>
      noAnswer(error) ||
      [codeOf(error), statusOf(error)].some((status) => typeof status === 'number' && status >= 500) ||
      reasonsOf(error).some((r) => r === 'backendError' || r === 'internalError'),
    says: () => 'BigQuery could not answer the query',
    retry: true,
  },
];
const OTHER_FAULT: QueryFault = { matches: () => true, says: () => 'BigQuery could not answer the query' };

/**
 * Why a query failed, as a category anyone may read (never BigQuery's own text: that goes to the log),
 * and whether asking again at once may answer.
 */
export function queryFailure(error: unknown, table: QueriedTable): { says: string; retry: boolean } {
  const fault = QUERY_FAULTS.find((f) => f.matches(error)) ?? OTHER_FAULT;
  return { says: fault.says(error, table), retry: fault.retry === true };
}
