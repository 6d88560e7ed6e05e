import type { RowChunk } from './sink.contract.js';

/** A run of consecutive rows of one chunk, rows [from, to): what the buffer and each request hold. */
export interface Segment {
  chunk: RowChunk;
  from: number;
  to: number;
}

/** Where row `row` of a chunk starts in its rows buffer (one separator byte follows each row but the last). */
export const startOf = (chunk: RowChunk, row: number): number => (row === 0 ? 0 : chunk.ends[row - 1]! + 1);

/** Row `row` of a chunk, as its encoder made it (a view, not a copy). */
export const rowOf = (chunk: RowChunk, row: number): Buffer =>
  chunk.rows.subarray(startOf(chunk, row), chunk.ends[row]);

export function rowCount(rows: readonly Segment[]): number {
  let count = 0;
  for (const { from, to } of rows) count += to - from;
  return count;
}

/** Adds one row to a list of segments, extending the last one when the row follows it. */
export function appendRow(rows: Segment[], chunk: RowChunk, row: number): void {
  const last = rows.at(-1);
  if (last !== undefined && last.chunk === chunk && last.to === row) last.to++;
  else rows.push({ chunk, from: row, to: row + 1 });
}

/** The first `count` rows, and the rest. */
export function splitRows(rows: readonly Segment[], count: number): [Segment[], Segment[]] {
  const first: Segment[] = [];
  const rest: Segment[] = [];
  let left = count;
  for (const segment of rows) {
    const take = Math.min(left, segment.to - segment.from);
    if (take > 0) first.push({ ...segment, to: segment.from + take });
    if (take < segment.to - segment.from) rest.push({ ...segment, from: segment.from + take });
    left -= take;
  }
  return [first, rest];
}

/** Calls `each` with every row of the segments in order, and its index among them. */
export function forEachRow(
  rows: readonly Segment[],
  each: (chunk: RowChunk, row: number, index: number) => void,
): void {
  let index = 0;
  for (const { chunk, from, to } of rows) for (let row = from; row < to; row++) each(chunk, row, index++);
}
