import type { FaultAction } from '../faults.js';
import {
  GRPC,
  storageWriteAction,
  storageWriteRowAction,
  streamAnswer,
  type StreamAnswer,
} from './storage-write-faults.js';

// The Storage Write API's fault table, as a table: every line is what the sink does about one fault.

describe('Storage Write appends (gRPC code of the answer or the connection)', () => {
  it.each<[keyof typeof GRPC | 'none', string, FaultAction]>([
    ['UNAVAILABLE', '', 'retry'],
    ['ABORTED', 'Closing the stream because it has been inactive for 600 seconds', 'retry'],
    ['INTERNAL', '', 'retry'],
    ['DEADLINE_EXCEEDED', '', 'retry'],
    ['RESOURCE_EXHAUSTED', 'Exceeds quota limit', 'retry'],
    ['CANCELLED', '', 'retry'],
    ['UNKNOWN', '', 'retry'],
    ['DATA_LOSS', '', 'retry'],
    ['none', 'the server closed the connection', 'retry'],
    ['INVALID_ARGUMENT', 'AppendRows request too large: 10485760 limit 10485760', 'split'],
    ['INVALID_ARGUMENT', 'Input schema has more fields than BigQuery schema', 'stop'],
    ['NOT_FOUND', 'Requested entity was not found', 'stop'],
    ['PERMISSION_DENIED', '', 'stop'],
    ['UNAUTHENTICATED', '', 'stop'],
    ['FAILED_PRECONDITION', 'Stream is finalized', 'stop'],
    ['UNIMPLEMENTED', '', 'stop'],
    ['ALREADY_EXISTS', '', 'stop'],
    ['OUT_OF_RANGE', '', 'stop'],
  ])('%s %j → %s', (code, message, action) => {
    expect(storageWriteAction(code === 'none' ? undefined : GRPC[code], message)).toBe(action);
  });

  it.each<[boolean, FaultAction]>([
    [true, 'dead-letter'],
    [false, 'retry'],
  ])('an append refused for row_errors: a row named in them (%s) → %s', (named, action) => {
    expect(storageWriteRowAction(named)).toBe(action);
  });

  // Answers to appends at offsets to application-created streams (exactly-once), as BigQuery and the emulator give them.
  it.each<[keyof typeof GRPC, string, number | undefined, StreamAnswer | undefined]>([
    ['ALREADY_EXISTS', 'Offset 0 exists', undefined, 'written'],
    ['OUT_OF_RANGE', 'Offset 5 is beyond the end of stream', undefined, 'resend'],
    ['INVALID_ARGUMENT', 'Stream is finalized', undefined, 'fenced'],
    ['INVALID_ARGUMENT', 'Cannot append', 6, 'fenced'],
    ['FAILED_PRECONDITION', 'stream projects/p/.../streams/s1 is finalized', undefined, 'fenced'],
    [
      'NOT_FOUND',
      'Requested entity was not found. Entity: projects/p/datasets/d/tables/t/streams/s1',
      undefined,
      'lost',
    ],
    ['NOT_FOUND', 'not found', 3, 'lost'],
    ['INVALID_ARGUMENT', 'Invalid stream name. Entity: projects/p/datasets/d/tables/t/streams/s1', undefined, 'lost'],
    ['INVALID_ARGUMENT', 'Input schema has more fields than BigQuery schema', undefined, undefined],
    ['NOT_FOUND', 'Table not found', undefined, undefined],
    ['UNAVAILABLE', '', undefined, undefined],
  ])('an append at an offset answered %s %j (StorageError %s) → %s', (code, message, storageError, answer) => {
    expect(streamAnswer(GRPC[code], message, storageError)).toBe(answer);
  });
});
