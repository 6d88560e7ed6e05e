import type { DeadLetter } from '../../dead-letters/dead-letters.service.js';
import type { RowChunk } from '../sink.contract.js';
import type { UnwritableReason } from '../../dead-letters/dead-letter-reason.js';

/**
 * The dead letter of a row the sink will not write. The chunk is told first: the row is not a play
 * in the table, so the live view must not count it.
 */
export function rowLetter(
  chunk: RowChunk,
  row: number,
  reason: UnwritableReason,
  detail: string,
  done: () => void,
): DeadLetter {
  chunk.lettered(row);
  return { source: chunk.source(row), reason, detail, done };
}
