import type { FaultAction } from '../faults.js';

// The Storage Write API's fault table (AppendRows over gRPC): its errors sorted into the sink's fault classes.

/** gRPC status codes (google.rpc.Code), by name. */
export const GRPC = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;

/**
 * A failed append (or its connection), by gRPC code. A connection that closed, was cancelled or
 * timed out idle is retried on a new one. INVALID_ARGUMENT with `row_errors` never gets here: those
 * rows are dead-lettered and the rest appended again (storageWriteRowAction).
 * ALREADY_EXISTS and OUT_OF_RANGE answer appends that carry offsets, which the default stream's do
 * not: the exactly-once writer (application streams) settles them itself before this table.
 */
export const GRPC_CODE_ACTIONS: Readonly<Record<number, FaultAction>> = {
  [GRPC.CANCELLED]: 'retry',
  [GRPC.UNKNOWN]: 'retry',
  [GRPC.INVALID_ARGUMENT]: 'stop',
  [GRPC.DEADLINE_EXCEEDED]: 'retry',
  [GRPC.NOT_FOUND]: 'stop',
  [GRPC.ALREADY_EXISTS]: 'stop',
  [GRPC.PERMISSION_DENIED]: 'stop',
  [GRPC.RESOURCE_EXHAUSTED]: 'retry',
  [GRPC.FAILED_PRECONDITION]: 'stop',
  [GRPC.ABORTED]: 'retry',
  [GRPC.OUT_OF_RANGE]: 'stop',
  [GRPC.UNIMPLEMENTED]: 'stop',
  [GRPC.INTERNAL]: 'retry',
  [GRPC.UNAVAILABLE]: 'retry',
  [GRPC.DATA_LOSS]: 'retry',
  [GRPC.UNAUTHENTICATED]: 'stop',
};

/** The gRPC status code an error carries (the client's and AppendConnection's errors), if any. */
export function grpcCodeOf(error: unknown): number | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : undefined;
}

/** A failed append by gRPC code and message; an unknown code (or none: a connection dropped) is retried. */
export function storageWriteAction(code: number | undefined, message = ''): FaultAction {
  if (code === GRPC.INVALID_ARGUMENT && /too large|exceeds|size limit/i.test(message)) return 'split';
  return GRPC_CODE_ACTIONS[code ?? GRPC.UNAVAILABLE] ?? 'retry';
}

/**
 * An append refused for `row_errors`: nothing of it was written. The rows named are bad
 * (FIELDS_ERROR, or any row error code): dead-lettered; the others are appended again.
 */
export function storageWriteRowAction(hasRowError: boolean): FaultAction {
  return hasRowError ? 'dead-letter' : 'retry';
}

// ---------------------------------------------------------------------------------------------
// Storage Write API, application-created (COMMITTED) streams with offsets: exactly-once

/**
 * What an answer to an append at an offset means for the exactly-once writer, before the table above:
 * - `written`: the rows are in the stream (ALREADY_EXISTS: an earlier attempt wrote them and its answer was lost);
 * - `resend`: an earlier append of the stream failed (OUT_OF_RANGE): write again in order from the last one written;
 * - `fenced`: the stream was finalized, by the partition's next owner: this member must stop writing it;
 * - `lost`: the stream no longer exists (expired, or an emulator restarted): it cannot be reconciled.
 */
export type StreamAnswer = 'written' | 'resend' | 'fenced' | 'lost';

/**
 * google.cloud.bigquery.storage.v1.StorageError codes BigQuery puts in an error's details, and
 * the messages that say the same where details are absent (the emulator sends none).
 */
const STREAM_ANSWERS: readonly { code: number; storageError?: number; message?: RegExp; answer: StreamAnswer }[] = [
  { code: GRPC.ALREADY_EXISTS, answer: 'written' },
  { code: GRPC.OUT_OF_RANGE, answer: 'resend' },
  // STREAM_FINALIZED (6) or INVALID_STREAM_STATE (5)
  { code: GRPC.INVALID_ARGUMENT, storageError: 6, answer: 'fenced' },
  { code: GRPC.INVALID_ARGUMENT, message: /stream is finalized/i, answer: 'fenced' },
  { code: GRPC.FAILED_PRECONDITION, message: /finalized/i, answer: 'fenced' },
  // STREAM_NOT_FOUND (3)
  { code: GRPC.NOT_FOUND, storageError: 3, answer: 'lost' },
  { code: GRPC.NOT_FOUND, message: /stream/i, answer: 'lost' },
  { code: GRPC.INVALID_ARGUMENT, message: /invalid stream name|stream .*not found/i, answer: 'lost' },
];

/** An append's answer by gRPC code, StorageError code and message; undefined: the table above decides. */
export function streamAnswer(code: number | undefined, message = '', storageError?: number): StreamAnswer | undefined {
  for (const entry of STREAM_ANSWERS) {
    if (entry.code !== code) continue;
    if (entry.storageError !== undefined && entry.storageError !== storageError) continue;
    if (entry.message !== undefined && !entry.message.test(message)) continue;
    return entry.answer;
  }
  return undefined;
}
