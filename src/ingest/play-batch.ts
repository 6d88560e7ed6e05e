import { decodePlay, type InvalidReason } from '../plays/play.js';
import { encodePlayRow } from '../sink/play-row.js';

/** One kafkajs batch's message values, packed to cross to a worker thread in one copy. */
export interface PackedBatch {
  topic: string;
  partition: number;
  offsets: string[];
  /** The values, back to back. */
  values: Uint8Array;
  /** Where each message's value ends in `values`; -1 for a message without a value (a tombstone). */
  ends: Int32Array;
  ingestedAt: string;
}

/** Each message of a batch as a row for the sink, or why it is not a play. */
export interface DecodedBatch {
  /** The rows (encodePlayRow's JSON, UTF-8), back to back. */
  rows: Uint8Array;
  /** Where each message's row ends in `rows`; -1 when the message is not a play. */
  rowEnds: Int32Array;
  invalid: { index: number; reason: InvalidReason; detail: string }[];
}

export function packBatch(
  topic: string,
  partition: number,
  messages: readonly { offset: string; value: Buffer | null }[],
  ingestedAt: string,
): PackedBatch {
  const ends = new Int32Array(messages.length);
  let size = 0;
  messages.forEach(({ value }, i) => {
    if (value === null) ends[i] = -1;
    else ends[i] = size += value.length;
  });
  const values = Buffer.allocUnsafe(size);
  let at = 0;
  for (const { value } of messages) if (value !== null) at += value.copy(values, at);
  return { topic, partition, offsets: messages.map(({ offset }) => offset), values, ends, ingestedAt };
}

/** Decodes and validates every message of a batch and encodes the plays as rows. Never throws for bad input. */
export function decodeBatch(batch: PackedBatch): DecodedBatch {
  const { topic, partition, offsets, ends, ingestedAt } = batch;
  const values = Buffer.from(batch.values.buffer, batch.values.byteOffset, batch.values.byteLength);
  const rows: string[] = [];
  const rowEnds = new Int32Array(ends.length);
  const invalid: DecodedBatch['invalid'] = [];
  let start = 0;
  let rowBytes = 0;
  for (let i = 0; i < ends.length; i++) {
    const end = ends[i]!;
    const decoded = decodePlay(end === -1 ? null : values.subarray(start, end));
    if (end !== -1) start = end;
    if (!decoded.ok) {
      rowEnds[i] = -1;
      invalid.push({ index: i, reason: decoded.reason, detail: decoded.detail });
      continue;
    }
    const row = encodePlayRow(decoded.play, { topic, partition, offset: offsets[i]! }, ingestedAt);
    rows.push(row);
    rowEnds[i] = rowBytes += Buffer.byteLength(row);
  }
  return { rows: Buffer.from(rows.join('')), rowEnds, invalid };
}
