import type { FaultAction } from '../faults.js';
import { insertAllRequestAction, insertAllRowAction } from './insert-all-faults.js';

// insertAll's fault table, as a table: every line is what the sink does about one fault.

describe('insertAll per-row errors (insertErrors[].errors[].reason)', () => {
  it.each<[string[], FaultAction]>([
    [['invalid'], 'dead-letter'],
    [['stopped'], 'retry'],
    [['backendError'], 'retry'],
    [['internalError'], 'retry'],
    [['timeout'], 'retry'],
    [['something-new'], 'retry'],
    [['invalid', 'stopped'], 'dead-letter'],
  ])('%j → %s', (reasons, action) => {
    expect(insertAllRowAction(reasons)).toBe(action);
  });
});

describe('insertAll requests (HTTP status, error reason, message)', () => {
  it.each<[number | null, string | undefined, string, FaultAction]>([
    [null, undefined, 'socket hang up', 'retry'],
    [500, 'backendError', '', 'retry'],
    [502, undefined, '', 'retry'],
    [503, undefined, '', 'retry'],
    [408, undefined, '', 'retry'],
    [429, undefined, '', 'retry'],
    [403, 'rateLimitExceeded', '', 'retry'],
    [403, 'quotaExceeded', '', 'retry'],
    [413, undefined, '', 'split'],
    [400, 'invalid', 'Request payload size exceeds the limit: 10485760 bytes.', 'split'],
    [400, 'invalid', 'Request too large', 'split'],
    [400, 'invalid', 'No rows present in the request.', 'stop'],
    [401, undefined, '', 'stop'],
    [403, 'accessDenied', 'Access Denied: Table', 'stop'],
    [404, 'notFound', 'Not found: Table', 'stop'],
  ])('%s %s %j → %s', (status, reason, message, action) => {
    expect(insertAllRequestAction(status, reason, message)).toBe(action);
  });
});
