import { deltaOfGroups, type PlayDelta, type PlayKey } from '../live/play-delta.js';
import { decodePlay, type InvalidReason } from '../plays/play.js';
import type { RowEncoding } from '../sink/writer.contract.js';

/**
 * One kafkajs batch's messages, packed as a few flat arrays in one ArrayBuffer: a copy crosses to
 * a worker thread (and dies young there), and the consumer thread keeps it as the messages' sources
 * for dead letters, so kafkajs' message objects can be dropped as soon as the batch is taken. Once
 * every message of the batch is written or dead-lettered, `freeBytes` gives its memory back at
 * once: left to the garbage collector, the buffers of batches done pile up until the next full
 * collection (docs/BENCHMARKS.md, peak RSS).
 */
export interface PackedBatch {
  topic: string;
  partition: number;
  /**
   * Each message's offset: as numbers while they are exact (below 2^53, i.e. always in practice),
   * else as kafkajs' strings.
   */
  offsets: Float64Array | string[];
  /**
   * Each message's Kafka timestamp (ms since the epoch), which its play is validated against; -1 or
   * NaN for a message without one (see decodePlay).
   */
  timestamps: Float64Array;
  /** The bytes the values are in (possibly with bytes between them). */
  values: Uint8Array<ArrayBuffer>;
  /** Where each message's value starts in `values`; -1 for a message without a value (a tombstone). */
  starts: Int32Array;
  /** Where each message's value ends in `values`. */
  ends: Int32Array;
  ingestedAt: string;
}

/** The messages of a batch that are plays, as rows for the sink, and why the others are not. */
export interface DecodedBatch {
  /** The rows as the writer's RowEncoding made them, one separator byte between two. */
  rows: Uint8Array;
  /** Where each row ends in `rows` (its separator, if any, follows). */
  rowEnds: Int32Array;
  /** The index in the batch of the message each row was made of. */
  rowMessages: Int32Array;
  invalid: { index: number; reason: InvalidReason; detail: string }[];
  /** What the live view counts of the batch; null when it was not asked for (or offsets are past 2^53). */
  plays: BatchPlays | null;
}

/**
 * The batch's plays as the live view counts them: by (minute, artist, song_name), per offset of the
 * batch's span (offsets may skip: transaction markers, compaction). Made on the decoder thread, a few
 * small arrays, so the consumer thread only marks the rows the sink dead-letters and publishes it.
 */
export interface BatchPlays {
  /** The batch's first offset: position p of the arrays below is offset `first + p`. */
  first: number;
  /** Per offset, the index in `keys` of its play; -1 for a message that is not a play, or no message. */
  groups: Int32Array;
  /** Per offset, its play's time in microseconds since the epoch (0 where there is none). */
  micros: Float64Array;
  /** The batch's distinct (minute, artist, song_name); minute: Unix seconds of its start. */
  keys: PlayKey[];
}

/**
 * The live delta of a batch whose every message is done: its plays less the rows the sink
 * dead-letters instead (their groups set to -1 meanwhile), each key with the newest of its plays left.
 */
export function deltaOfBatch(topic: string, partition: number, plays: BatchPlays): PlayDelta {
  return deltaOfGroups(topic, partition, plays.first, plays.keys, plays.groups, plays.micros);
}

/** Counts plays by key as they are decoded (see BatchPlays). */
class PlayCounter {
  /** Key index by artist, then song, then minute: maps of the names as decoded, no key string built per play. */
  private readonly index = new Map<string, Map<string, Map<number, number>>>();
  readonly keys: BatchPlays['keys'] = [];
  readonly groups: Int32Array;
  readonly micros: Float64Array;

  constructor(
    readonly first: number,
    span: number,
  ) {
    this.groups = new Int32Array(span).fill(-1);
    this.micros = new Float64Array(span);
  }

  add(offset: number, artist: string, song: string, micros: number): void {
    const minute = Math.floor(micros / 60_000_000) * 60;
    let songs = this.index.get(artist);
    if (songs === undefined) this.index.set(artist, (songs = new Map<string, Map<number, number>>()));
    let minutes = songs.get(song);
    if (minutes === undefined) songs.set(song, (minutes = new Map<number, number>()));
    let group = minutes.get(minute);
    if (group === undefined) {
      group = this.keys.push({ minute, artist, song }) - 1;
      minutes.set(minute, group);
    }
    this.groups[offset - this.first] = group;
    this.micros[offset - this.first] = micros;
  }
}

export function packBatch(
  topic: string,
  partition: number,
  messages: readonly { offset: string; timestamp: string; value: Buffer | null }[],
  ingestedAt: string,
): PackedBatch {
  const count = messages.length;
  // kafkajs' values are views into the fetch response: when they are all in one buffer, close
  // together, the stretch that holds them is copied at once rather than value by value.
  let source: ArrayBufferLike | null = null;
  let shared = true;
  let low = Number.POSITIVE_INFINITY;
  let high = 0;
  let total = 0;
  for (let i = 0; i < count; i++) {
    const value = messages[i]!.value;
    if (value === null) continue;
    total += value.length;
    if (source === null) source = value.buffer;
    else if (value.buffer !== source) shared = false;
    low = Math.min(low, value.byteOffset);
    high = Math.max(high, value.byteOffset + value.length);
  }
  shared &&= source !== null && high - low <= 2 * total + 65_536;
  const size = source === null ? 0 : shared ? high - low : total;
  const memory = new ArrayBuffer(24 * count + size);
  const timestamps = new Float64Array(memory, 8 * count, count);
  const starts = new Int32Array(memory, 16 * count, count);
  const ends = new Int32Array(memory, 20 * count, count);
  const values = new Uint8Array(memory, 24 * count, size);
  if (shared) values.set(new Uint8Array(source!, low, size));
  let at = 0;
  for (let i = 0; i < count; i++) {
    const message = messages[i]!;
    // kafkajs gives a string; a message of the oldest format has none (NaN here).
    timestamps[i] = Number(message.timestamp);
    const value = message.value;
    if (value === null) {
      starts[i] = ends[i] = -1;
    } else if (shared) {
      starts[i] = value.byteOffset - low;
      ends[i] = starts[i]! + value.length;
    } else {
      values.set(value, at);
      starts[i] = at;
      ends[i] = at += value.length;
    }
  }
  // Offsets only grow within a batch: when the last one is exact as a number, every one is.
  let offsets: Float64Array | string[];
  if (count === 0 || Number.isSafeInteger(Number(messages[count - 1]!.offset))) {
    offsets = new Float64Array(memory, 0, count);
    for (let i = 0; i < count; i++) offsets[i] = Number(messages[i]!.offset);
  } else {
    offsets = messages.map(({ offset }) => offset);
  }
  return { topic, partition, offsets, timestamps, values, starts, ends, ingestedAt };
}

/** The offset of message `i` of a packed batch, as Kafka (and insertIds) spell it. */
export function offsetOf(batch: Pick<PackedBatch, 'offsets'>, i: number): string {
  return String(batch.offsets[i]!);
}

/** The value of message `i` of a packed batch (a copy), or null for a tombstone. */
export function valueOf(batch: Pick<PackedBatch, 'values' | 'starts' | 'ends'>, i: number): Buffer | null {
  if ((batch.values.buffer as Detachable).detached === true)
    throw new Error('the batch is done: its values were freed');
  const start = batch.starts[i]!;
  if (start === -1) return null;
  return Buffer.from(batch.values.subarray(start, batch.ends[i]));
}

/**
 * Frees the memory of a buffer nothing reads any more (a batch's packed messages or its rows, once
 * the batch is done), now rather than at the garbage collector's next full collection. Views of it
 * are left empty; never call it while a request may still be writing from it.
 */
export function freeBytes(view: ArrayBufferView): void {
  const buffer = view.buffer as Detachable;
  // Never throws (it runs where a batch is reported done): without transfer, the collector frees it later.
  if (buffer instanceof ArrayBuffer && buffer.detached === false) buffer.transfer?.(0);
}

/** ES2024's ArrayBuffer (Node 24 has it; the project's TypeScript lib is ES2023). */
type Detachable = ArrayBuffer & { readonly detached?: boolean; transfer?(length?: number): ArrayBuffer };

/** Where a batch's rows are written, reused from batch to batch (a decoder thread decodes one batch at a time). */
let scratch = Buffer.allocUnsafeSlow(1 << 20);

/**
 * Decodes and validates every message of a batch and encodes the plays as rows, in the format of the
 * chosen writer (`encoding`: the decoder does not know it). Never throws for bad input.
 * Each row is written into the output bytes as soon as it is made, so no row outlives its play: on a
 * small young generation, rows kept in an array until the end of the batch were copied and promoted
 * by the garbage collector.
 */
export function decodeBatch(
  batch: PackedBatch,
  encoding: RowEncoding,
  options: { plays?: boolean } = {},
): DecodedBatch {
  const { offsets, timestamps, starts, ends } = batch;
  const counter =
    options.plays === true && offsets instanceof Float64Array && offsets.length > 0
      ? new PlayCounter(offsets[0]!, offsets[offsets.length - 1]! - offsets[0]! + 1)
      : null;
  const values = Buffer.from(batch.values.buffer, batch.values.byteOffset, batch.values.byteLength);
  const encode = encoding.createEncoder(batch.topic, batch.partition, batch.ingestedAt);
  const separator = encoding.separator;
  let rows = scratch;
  const rowEnds = new Int32Array(ends.length);
  const rowMessages = new Int32Array(ends.length);
  const invalid: DecodedBatch['invalid'] = [];
  let count = 0;
  let at = 0;
  for (let i = 0; i < ends.length; i++) {
    const start = starts[i]!;
    const decoded = decodePlay(start === -1 ? null : values.subarray(start, ends[i]), timestamps[i]!);
    if (!decoded.ok) {
      invalid.push({ index: i, reason: decoded.reason, detail: decoded.detail });
      continue;
    }
    counter?.add(offsets[i] as number, decoded.play.artist, decoded.play.song_name, decoded.micros);
    const row = encode.row(decoded.play, String(offsets[i]!));
    // A string row is at most 3 bytes per UTF-16 unit; plus its separator.
    const most = (typeof row === 'string' ? row.length * 3 : row.length) + 1;
    if (at + most > rows.length) {
      const grown = Buffer.allocUnsafeSlow(Math.max(rows.length * 2, at + most));
      rows.copy(grown, 0, 0, at);
      rows = scratch = grown;
    }
    if (count > 0) rows[at++] = separator;
    if (typeof row === 'string') at += rows.write(row, at);
    else {
      rows.set(row, at);
      at += row.length;
    }
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
    plays:
      counter === null
        ? null
        : { first: counter.first, groups: counter.groups, micros: counter.micros, keys: counter.keys },
  };
}
