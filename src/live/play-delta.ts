// A delta: what one durably written batch of a source partition adds to the live tally. Every
// replica reads every delta, so it is small: a key per (minute, artist, song) and one group index per
// message, never a row per play. The group indices let a replica count exactly the offsets it has not
// counted yet, whatever boundaries the delta was published with (see live-tally.ts).

import { splitPoint } from '../halves.js';

/** A delta's key: [minute (Unix seconds of its start), artist, song_name, newest play of the key (µs since the epoch)]. */
export type PlayDeltaKey = [minute: number, artist: string, songName: string, newestMicros: number];

export interface PlayDelta {
  v: 1;
  /** Source topic. */
  topic: string;
  /** Source partition. */
  partition: number;
  /** Offset of the first message covered. */
  from: number;
  /** One entry per message of [from, from + groups.length): an index into `keys`, or -1 for a message that is not a play (dead-lettered). */
  groups: number[];
  keys: PlayDeltaKey[];
}

/** What a play contributes to a delta; null: the message is not a play. */
export interface DeltaPlay {
  artist: string;
  song_name: string;
  /** The play's timestamp, microseconds since the epoch. */
  timestampMicros: number;
}

/** Most messages one delta may cover: far above a batch, low enough that one bad delta cannot eat the heap. */
export const MAX_DELTA_MESSAGES = 1_000_000;

const MINUTE_MICROS = 60_000_000;

/** The minute (Unix seconds of its start) a play at `timestampMicros` falls in. */
export const minuteOf = (timestampMicros: number) => Math.floor(timestampMicros / MINUTE_MICROS) * 60;

/** A (minute, artist, song) a batch's plays are grouped by; `minute` in Unix seconds of its start. */
export interface PlayKey {
  minute: number;
  artist: string;
  song: string;
}

/**
 * The delta of messages [from, from + groups.length) of a source partition, from plays already grouped:
 * `groups[i]` is the index in `keys` of message from + i's play (-1: not a play, or not written) and
 * `micros[i]` its timestamp. Keys no message uses are left out; each keeps its newest timestamp.
 */
export function deltaOfGroups(
  topic: string,
  partition: number,
  from: number,
  keys: readonly PlayKey[],
  groups: ArrayLike<number>,
  micros: ArrayLike<number>,
): PlayDelta {
  const index = new Int32Array(keys.length).fill(-1);
  const deltaKeys: PlayDeltaKey[] = [];
  const deltaGroups = new Array<number>(groups.length);
  for (let p = 0; p < groups.length; p++) {
    const group = groups[p]!;
    if (group === -1) {
      deltaGroups[p] = -1;
      continue;
    }
    if (index[group] === -1) {
      const { minute, artist, song } = keys[group]!;
      index[group] = deltaKeys.push([minute, artist, song, micros[p]!]) - 1;
    }
    const key = deltaKeys[index[group]!]!;
    key[3] = Math.max(key[3], micros[p]!);
    deltaGroups[p] = index[group]!;
  }
  return { v: 1, topic, partition, from, groups: deltaGroups, keys: deltaKeys };
}

/** The delta of messages [from, from + plays.length) of a source partition; null (not a play) becomes -1. */
export function deltaOf(
  topic: string,
  partition: number,
  from: number,
  plays: readonly (DeltaPlay | null)[],
): PlayDelta {
  const keys: PlayKey[] = [];
  const indexOf = new Map<string, number>();
  const groups = plays.map((play) => {
    if (play === null) return -1;
    const minute = minuteOf(play.timestampMicros);
    // JSON, not a separator: names may hold any character, a separator included.
    const id = JSON.stringify([minute, play.artist, play.song_name]);
    let index = indexOf.get(id);
    if (index === undefined) {
      index = keys.push({ minute, artist: play.artist, song: play.song_name }) - 1;
      indexOf.set(id, index);
    }
    return index;
  });
  const micros = plays.map((play) => play?.timestampMicros ?? 0);
  return deltaOfGroups(topic, partition, from, keys, groups, micros);
}

/**
 * A delta cut in two at the middle of its offsets, each half with only its own keys: both together
 * count what it counts (replicas merge by offset, so halves and a whole never count a message twice).
 * A key keeps its newest play's time in both halves: both are published before the batch commits.
 * Null for a delta of one message, which cannot be cut.
 */
export function splitDelta(delta: PlayDelta): [PlayDelta, PlayDelta] | null {
  const middle = splitPoint(delta.groups.length);
  if (middle === null) return null;
  return [sliceDelta(delta, 0, middle), sliceDelta(delta, middle, delta.groups.length)];
}

function sliceDelta(delta: PlayDelta, start: number, end: number): PlayDelta {
  const keys: PlayDeltaKey[] = [];
  const indexOf = new Map<number, number>();
  const groups = delta.groups.slice(start, end).map((group) => {
    if (group < 0) return group;
    let index = indexOf.get(group);
    if (index === undefined) {
      index = keys.length;
      indexOf.set(group, index);
      keys.push(delta.keys[group]!);
    }
    return index;
  });
  return { ...delta, from: delta.from + start, groups, keys };
}

/** What a delta covers: source topic, partition and offsets [from, to). */
export interface DeltaCovers {
  topic: string;
  partition: number;
  from: number;
  to: number;
}

/**
 * The `covers` header of a delta's message, `topic:partition:from:count` (':' is not allowed in a topic
 * name): a reader that has counted those offsets already skips the message without parsing it.
 */
export const coversHeader = (delta: PlayDelta): string =>
  `${delta.topic}:${delta.partition}:${delta.from}:${delta.groups.length}`;

/** The offsets a message's `covers` header names; null when it has none or it is not one. */
export function parseCoversHeader(header: Buffer | string | (Buffer | string)[] | undefined): DeltaCovers | null {
  if (header === undefined || Array.isArray(header)) return null;
  const parts = header.toString().split(':');
  if (parts.length !== 4) return null;
  const [topic, partition, from, count] = [parts[0]!, Number(parts[1]), Number(parts[2]), Number(parts[3])];
  if (topic === '' || ![partition, from, count].every((n) => Number.isSafeInteger(n) && n >= 0)) return null;
  return { topic, partition, from, to: from + count };
}
