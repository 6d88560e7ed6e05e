import type { UnwritableReason } from '../../../dead-letters/dead-letter-reason.js';
import type { AppendResult, RefusedRow, RowOutcome } from '../../writer.contract.js';
import { forEachRow, rowOf, type Segment } from '../../rows.js';

/** One request of the sink: resolved once every piece of it is written or dead-lettered. */
export interface LaneRequest {
  rows: readonly Segment[];
  /** Its rows BigQuery refused, settled by the sink while the lane waited, by index in the request. */
  unwritten: RowOutcome[];
  /** Pieces (items) not yet done: a request is split where BigQuery refused rows, or for its size. */
  pieces: number;
  resolve(result: AppendResult): void;
  reject(error: unknown): void;
}

/** Why BigQuery refused a row: its dead letter's reason and detail. */
export interface Refusal {
  reason: UnwritableReason;
  detail: string;
}

/** A run of a request's rows, as the lane holds it until BigQuery has them (or they are dead letters). */
export interface LaneItem {
  request: LaneRequest;
  /** Rows BigQuery refused: dead-lettered, then recorded, never appended. */
  refused?: Refusal[];
  /** The rows (serialized protobuf), and each one's index in the request. */
  serialized: Buffer[];
  index: number[];
  /** Where chunks end in the run: the index of a chunk's last row, and the offset after its batch. */
  chunkEnds: { index: number; next: bigint }[];
  /** The stream offset it was last sent at. */
  offset: number;
}

/** A request as one item: all its rows, in order. */
export function laneItemOf(request: LaneRequest): LaneItem {
  const item: LaneItem = { request, serialized: [], index: [], chunkEnds: [], offset: 0 };
  forEachRow(request.rows, (chunk, row, index) => {
    item.serialized.push(rowOf(chunk, row));
    item.index.push(index);
    if (row === chunk.ends.length - 1) item.chunkEnds.push({ index, next: chunk.lastOffset + 1n });
  });
  return item;
}

/**
 * An item cut where rows are refused (and, for a request too large, at `cutAt`), in order: runs to
 * append, and runs of refused rows (with why) to dead-letter.
 */
export function runsOf(item: LaneItem, refused: ReadonlyMap<number, Refusal>, cutAt = -1): LaneItem[] {
  const runs: LaneItem[] = [];
  let run: LaneItem | null = null;
  item.serialized.forEach((row, i) => {
    const why = refused.get(i);
    if (run === null || (why !== undefined) !== (run.refused !== undefined) || i === cutAt) {
      run = { request: item.request, serialized: [], index: [], chunkEnds: [], offset: 0 };
      if (why !== undefined) run.refused = [];
      runs.push(run);
    }
    run.serialized.push(row);
    run.index.push(item.index[i]!);
    if (why !== undefined) run.refused!.push(why);
    const end = item.chunkEnds.find(({ index }) => index === item.index[i]);
    if (end !== undefined) run.chunkEnds.push(end);
  });
  item.request.pieces += runs.length - 1;
  return runs;
}

/** A written item's checkpoints: after each of its chunks, the stream's rows up to the chunk's end. */
export function writtenChunksOf(item: LaneItem): { next: bigint; rows: number }[] {
  const written: { next: bigint; rows: number }[] = [];
  let kept = 0;
  let i = 0;
  for (const { index, next } of item.chunkEnds) {
    while (i < item.index.length && item.index[i]! <= index) {
      i++;
      kept++;
    }
    written.push({ next, rows: item.offset + kept });
  }
  return written;
}

/** A run of refused rows as the sink is told of them: each row of its request, with why. */
export function refusedRowsOf(item: LaneItem): RefusedRow[] {
  const refs: RefusedRow[] = [];
  const wanted = new Map(item.index.map((index, i) => [index, item.refused![i]!]));
  forEachRow(item.request.rows, (chunk, row, index) => {
    const refusal = wanted.get(index);
    if (refusal !== undefined) refs.push({ chunk, row, ...refusal });
  });
  return refs;
}

/** One piece of its request done: the request resolves with its last. */
export function finishPiece({ request }: LaneItem): void {
  if (--request.pieces === 0) request.resolve({ unwritten: request.unwritten });
}
