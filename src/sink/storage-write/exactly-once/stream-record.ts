/**
 * What the exactly-once writer keeps in the metadata of each Kafka offset commit of a partition, so
 * the partition's next owner can tell which of the following plays are already in BigQuery:
 *
 * - `stream`: the write stream (COMMITTED) this owner appends the partition's rows to;
 * - `rows`: how many of that stream's rows come from messages before the committed offset;
 * - `carried`: how many valid plays right at the committed offset were written by earlier streams
 *   (an owner that took over skips them, and until it has, they are still ahead of its commit point).
 *
 * The next owner finalizes `stream` (which also fences the old owner's appends) and reads its final
 * row count: the next `carried + (final count - rows)` valid plays from the committed offset are in
 * BigQuery already. Kafka caps metadata (offset.metadata.max.bytes, 4096 by default); this is ~150 bytes.
 */
export interface StreamRecord {
  stream: string;
  rows: number;
  carried: number;
}

const PREFIX = 'plays-eo1:';

export function encodeStreamRecord({ stream, rows, carried }: StreamRecord): string {
  return PREFIX + JSON.stringify({ s: stream, r: rows, c: carried });
}

/**
 * The record in a commit's metadata; null when there is none (a first start, or offsets committed by
 * an at-least-once run or another tool), which means nothing after the committed offset was written
 * by an exactly-once stream.
 */
export function decodeStreamRecord(metadata: string | null | undefined): StreamRecord | null {
  if (!metadata?.startsWith(PREFIX)) return null;
  try {
    const { s, r, c } = JSON.parse(metadata.slice(PREFIX.length)) as { s?: unknown; r?: unknown; c?: unknown };
    if (typeof s !== 'string' || !isCount(r) || !isCount(c)) return null;
    return { stream: s, rows: r, carried: c };
  } catch {
    return null;
  }
}

const isCount = (n: unknown): n is number => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;
