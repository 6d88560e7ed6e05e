import { errorText } from '../../../errors.js';
import type { FaultAction } from '../../faults.js';
import { GRPC, grpcCodeOf, storageWriteAction, streamAnswer } from '../storage-write-faults.js';
import type { AppendRowsResponse } from '../append-connection.js';
import { splitPoint } from '../../../halves.js';
import { runsOf, type LaneItem, type Refusal } from './lane-item.js';

/** What the answer to a lane's first append not yet written means. */
export type AppendVerdict =
  /** Its rows are in the stream (now, or by an earlier send: ALREADY_EXISTS). */
  | { kind: 'written' }
  /** The stream was finalized by the partition's next owner. */
  | { kind: 'fenced' }
  /** The stream no longer exists. */
  | { kind: 'lost' }
  /** Nothing of it was written: these runs go in its place, in order (refused rows' runs as dead letters). */
  | { kind: 'cut'; runs: LaneItem[] }
  /** Nothing of it was written: sent again after a wait (or the sink stops, as `action` says). */
  | { kind: 'failed'; message: string; action: FaultAction };

/** The verdict on `item`'s append from BigQuery's answer, or the error the connection failed it with. */
export function appendVerdict(item: LaneItem, response: AppendRowsResponse | undefined, error: unknown): AppendVerdict {
  const code = error !== undefined ? grpcCodeOf(error) : (response?.error?.code ?? GRPC.OK);
  const message = error !== undefined ? errorText(error) : (response?.error?.message ?? '');
  const rowErrors = response?.rowErrors ?? [];
  if (rowErrors.length > 0) {
    // Nothing of the append was written: it goes again in runs, the refused rows' runs as dead letters.
    const refused = new Map<number, Refusal>(
      rowErrors.map((e) => [
        Number(e.index),
        { reason: 'bigquery_invalid', detail: `row error ${e.code ?? ''}: ${e.message ?? ''}` },
      ]),
    );
    return { kind: 'cut', runs: runsOf(item, refused) };
  }
  const numericCode = typeof code === 'number' ? code : undefined;
  if (numericCode === GRPC.OK) return { kind: 'written' };
  switch (streamAnswer(numericCode, message, storageErrorOf(response))) {
    case 'written':
      return { kind: 'written' };
    case 'fenced':
      return { kind: 'fenced' };
    case 'lost':
      return { kind: 'lost' };
    case 'resend':
      // OUT_OF_RANGE for the first append not written: its end is not where it was counted. Sent again.
      break;
    case undefined:
      break;
  }
  const action: FaultAction =
    streamAnswer(numericCode, message) === 'resend' ? 'retry' : storageWriteAction(numericCode, message);
  const half = splitPoint(item.serialized.length);
  if (action === 'split' && half !== null) {
    // Too large: the halves go in its place, in order.
    return { kind: 'cut', runs: runsOf(item, new Map(), half) };
  }
  if (action === 'split' || action === 'dead-letter') {
    // In its place, dead letters: a row too large even alone (the reason the request loop gives one), or rows refused.
    const reason = action === 'split' ? 'bigquery_too_large' : 'bigquery_invalid';
    return {
      kind: 'cut',
      runs: runsOf(item, new Map(item.serialized.map((_, i) => [i, { reason, detail: message }] as const))),
    };
  }
  return { kind: 'failed', message, action };
}

/** The StorageError code BigQuery puts in an in-band error's details, if any. */
function storageErrorOf(response: AppendRowsResponse | undefined): number | undefined {
  for (const detail of response?.error?.details ?? []) {
    const code = (detail as { code?: unknown }).code;
    if (typeof code === 'number') return code;
  }
  return undefined;
}
