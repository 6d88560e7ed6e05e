import { queryFailure, QueryTimedOut } from './query-failure.js';

const table = { tableId: 'p.d.plays', maxBytesBilled: '10485760' };
/** An error as the BigQuery client raises it for an HTTP answer (ApiError: the status as `code`). */
const apiError = (code: number, reason?: string) =>
  Object.assign(new Error(`HTTP ${code}`), { code, errors: reason === undefined ? [] : [{ reason }] });
/** No answer at all: Node's error, as gaxios passes it on. */
const noAnswer = (code: string) => Object.assign(new Error(`request failed: ${code}`), { code });

describe('queryFailure: why a dashboard query failed, and whether to ask again at once', () => {
  it.each([
    ['a reset connection', noAnswer('ECONNRESET')],
    ['a broken pipe', noAnswer('EPIPE')],
    ['a 500', apiError(500)],
    ['a 503', apiError(503, 'backendError')],
    ['backendError in a failed job', apiError(400, 'backendError')],
    ['internalError', apiError(400, 'internalError')],
    ['a gaxios 502', Object.assign(new Error('bad gateway'), { status: 502 })],
  ])('asks again after %s', (_, error) => {
    expect(queryFailure(error, table)).toEqual({ says: 'BigQuery could not answer the query', retry: true });
  });

  it.each([
    ['no answer in time', new QueryTimedOut(10_000), 'BigQuery gave no answer within 10s; the query was cancelled'],
    ['no such table', apiError(404, 'notFound'), 'the plays table p.d.plays does not exist yet'],
    [
      'too many bytes',
      apiError(400, 'bytesBilledLimitExceeded'),
      'the query would bill more than DASHBOARD_MAX_BYTES_BILLED (10485760 bytes)',
    ],
    ['no permission', apiError(403, 'accessDenied'), 'BigQuery refused the query: no permission'],
    ['a quota', apiError(403, 'rateLimitExceeded'), 'BigQuery refused the query: over a quota'],
    ['a bad query', apiError(400, 'invalidQuery'), 'BigQuery could not answer the query'],
    [
      'an HTTP error with a status and a string code',
      Object.assign(new Error('x'), { code: 'ERR_BAD', status: 400 }),
      'BigQuery could not answer the query',
    ],
  ])('does not ask again after %s, and says why', (_, error, says) => {
    expect(queryFailure(error, table)).toEqual({ says, retry: false });
  });
});
