import { decodePlay, type InvalidReason } from '../plays/play.js';
import { PlayRowEncoder } from '../sink/play-row.js';

/**
 * One kafkajs batch's messages, packed to cross to a worker thread as a few flat arrays (cloned as
 * memory copies, not object by object), and kept by the consumer thread as the messages' sources
 * for dead letters, so kafkajs' message objects can be dropped as soon as the batch is taken.
 */
export interface PackedBatch {
  topic: string;
  partition: number;
  /**
   * Each message's offset: as numbers while they are exact (below 2^53, i.e. always in practice),
   * else as kafkajs' strings.
   */
  offsets: Float64Array | string[];
  /** The values, back to back. */
  values: Uint8Array;
  /** Where each message's value ends in `values`; -1 for a message without a value (a tombstone). */
  ends: Int32Array;
  ingestedAt: string;
}

/** The messages of a batch that are plays, as rows for the sink, and why the others are not. */
export interface DecodedBatch {
  /** The rows (encodePlayRow's JSON, UTF-8), separated by commas: a slice is a run of insertAll rows. */
  rows: Uint8Array;
  /** Where each row ends in `rows` (its comma, if any, follows). */
  rowEnds: Int32Array;
  /** The index in the batch of the message each row was made of. */
  rowMessages: Int32Array;
  invalid: { index: number; reason: InvalidReason; detail: string }[];
}

export function packBatch(
  topic: string,
  partition: number,
  messages: readonly { offset: string; value: Buffer | null }[],
  ingestedAt: string,
): PackedBatch {
  const count = messages.length;
  const ends = new Int32Array(count);
  let size = 0;
  for (let i = 0; i < count; i++) {
    const value = messages[i]!.value;
    ends[i] = value === null ? -1 : (size += value.length);
  }
  const values = new Uint8Array(size);
  let at = 0;
  for (let i = 0; i < count; i++) {
    const value = messages[i]!.value;
    if (value !== null) {
      values.set(value, at);
      at += value.length;
    }
  }
  // Offsets only grow within a batch: when the last one is exact as a number, every one is.
  const exact = count === 0 || Number.isSafeInteger(Number(messages[count - 1]!.offset));
  let offsets: Float64Array | string[];
  if (exact) {
    offsets = new Float64Array(count);
    for (let i = 0; i < count; i++) offsets[i] = Number(messages[i]!.offset);
  } else {
    offsets = messages.map(({ offset }) => offset);
  }
  return { topic, partition, offsets, values, ends, ingestedAt };
}

/** The offset of message `i` of a packed batch, as Kafka (and insertIds) spell it. */
export function offsetOf(batch: Pick<PackedBatch, 'offsets'>, i: number): string {
  return String(batch.offsets[i]!);
}

/** The value of message `i` of a packed batch (a view, not a copy), or null for a tombstone. */
export function valueOf(batch: Pick<PackedBatch, 'values' | 'ends'>, i: number): Buffer | null {
  const end = batch.ends[i]!;
  if (end === -1) return null;
  let start = 0;
  for (let j = i - 1; j >= 0; j--) {
    if (batch.ends[j] !== -1) {
      start = batch.ends[j]!;
      break;
    }
  }
  return Buffer.from(batch.values.buffer, batch.values.byteOffset + start, end - start);
}

const COMMA = 0x2c;
/** Where a batch's rows are written, reused from batch to batch (a decoder thread decodes one batch at a time). */
let scratch = Buffer.allocUnsafeSlow(1 << 20);

/**
 * Decodes and validates every message of a batch and encodes the plays as rows. Never throws for bad input.
 * Each row is written into the output bytes as soon as it is made, so no row outlives its play: on a
 * small young generation, rows kept in an array until the end of the batch were copied and promoted
 * by the garbage collector.
 */
export function decodeBatch(batch: PackedBatch): DecodedBatch {
  const { offsets, ends } = batch;
  const values = Buffer.from(batch.values.buffer, batch.values.byteOffset, batch.values.byteLength);
  const encode = new PlayRowEncoder(batch.topic, batch.partition, batch.ingestedAt);
  let rows = scratch;
  const rowEnds = new Int32Array(ends.length);
  const rowMessages = new Int32Array(ends.length);
  const invalid: DecodedBatch['invalid'] = [];
  const now = Date.now();
  let count = 0;
  let at = 0;
  let start = 0;
  for (let i = 0; i < ends.length; i++) {
    const end = ends[i]!;
    const decoded = decodePlay(end === -1 ? null : values.subarray(start, end), now);
    if (end !== -1) start = end;
    if (!decoded.ok) {
      invalid.push({ index: i, reason: decoded.reason, detail: decoded.detail });
      continue;
    }
    const row = encode.row(decoded.play, String(offsets[i]!));
    // A row is at most 3 bytes per UTF-16 unit, plus its comma.
    if (at + row.length * 3 + 1 > rows.length) {
      const grown = Buffer.allocUnsafeSlow(Math.max(rows.length * 2, at + row.length * 3 + 1));
      rows.copy(grown, 0, 0, at);
      rows = scratch = grown;
    }
    if (count > 0) rows[at++] = COMMA;
    at += rows.write(row, at);
    rowEnds[count] = at;
    rowMessages[count++] = i;
  }
  return {
    // Copies of the used parts: what crosses back to the consumer thread, and what it keeps, is no
    // larger than the rows themselves.
    rows: new Uint8Array(rows.subarray(0, at)),
    rowEnds: rowEnds.slice(0, count),
    rowMessages: rowMessages.slice(0, count),
    invalid,
  };
}
