import { BadPlayDelta, parsePlayDelta } from './parse-play-delta.js';
import {
  coversHeader,
  deltaOf,
  MAX_DELTA_MESSAGES,
  minuteOf,
  parseCoversHeader,
  splitDelta,
  type PlayDelta,
} from './play-delta.js';

const MINUTE = 60_000_000;
const T = 1_764_936_000 * 1_000_000; // 2025-12-05T12:00:00Z in µs, a whole minute

const play = (artist: string, song_name: string, timestampMicros: number) => ({ artist, song_name, timestampMicros });

/** The message parsePlayDelta throws for `value`. */
function rejection(value: unknown): string {
  try {
    parsePlayDelta(value);
  } catch (error) {
    expect(error).toBeInstanceOf(BadPlayDelta);
    return (error as Error).message;
  }
  throw new Error(`accepted ${JSON.stringify(value)}`);
}

const good: PlayDelta = { v: 1, topic: 'plays', partition: 0, from: 10, groups: [0, -1, 0], keys: [[60, 'a', 's', 1]] };

describe('deltaOf', () => {
  it('groups plays by minute, artist and song, keeping each key’s newest timestamp', () => {
    const delta = deltaOf('plays', 3, 100, [
      play('fela', 'zombie', T + 5),
      play('fela', 'zombie', T + 59_999_999),
      play('fela', 'zombie', T + MINUTE),
      play('tony', 'zombie', T + 1),
      play('fela', 'zombie', T + 7),
    ]);
    expect(delta).toEqual({
      v: 1,
      topic: 'plays',
      partition: 3,
      from: 100,
      groups: [0, 0, 1, 2, 0],
      keys: [
        [T / 1e6, 'fela', 'zombie', T + 59_999_999],
        [T / 1e6 + 60, 'fela', 'zombie', T + MINUTE],
        [T / 1e6, 'tony', 'zombie', T + 1],
      ],
    });
  });

  it('gives a message that is not a play -1', () => {
    expect(deltaOf('plays', 0, 0, [null, play('a', 's', T), null]).groups).toEqual([-1, 0, -1]);
  });

  it('keeps apart names that a separator would run together', () => {
    const delta = deltaOf('plays', 0, 0, [play('a\u0000b', 'c', T), play('a', 'b\u0000c', T)]);
    expect(delta.keys).toHaveLength(2);
  });

  it('puts a play before 1970 in the minute that holds it', () => {
    expect(minuteOf(-1)).toBe(-60);
    expect(minuteOf(0)).toBe(0);
  });

  it('makes deltas that parse back unchanged from JSON', () => {
    const delta = deltaOf('plays', 1, 5, [play('ａ', '😀', T), null]);
    expect(parsePlayDelta(JSON.parse(JSON.stringify(delta)))).toEqual(delta);
  });
});

describe('splitDelta', () => {
  it('cuts the offsets in two halves, each with only its own keys, that parse and count what the whole counts', () => {
    const whole = deltaOf('plays', 2, 40, [
      play('fela', 'zombie', T),
      null,
      play('tony', 'lady', T + 1),
      play('fela', 'zombie', T + 2),
      play('tony', 'vip', T + MINUTE),
    ]);
    const [first, second] = splitDelta(whole)!;
    expect(first).toMatchObject({ from: 40, groups: [0, -1, 1], keys: [whole.keys[0], whole.keys[1]] });
    expect(second).toMatchObject({ from: 43, groups: [0, 1], keys: [whole.keys[0], whole.keys[2]] });
    for (const half of [first, second]) expect(parsePlayDelta(JSON.parse(JSON.stringify(half)))).toEqual(half);
    // Message by message, each half names the key the whole names.
    const named = (d: PlayDelta) => d.groups.map((g) => (g < 0 ? null : d.keys[g]));
    expect([...named(first), ...named(second)]).toEqual(named(whole));
  });

  it('cuts a delta of two messages into one each', () => {
    const [first, second] = splitDelta(deltaOf('plays', 0, 7, [null, play('a', 's', T)]))!;
    expect(first).toMatchObject({ from: 7, groups: [-1], keys: [] });
    expect(second).toMatchObject({ from: 8, groups: [0] });
  });

  it('cannot cut a delta of one message', () => {
    expect(splitDelta(deltaOf('plays', 0, 7, [play('a', 's', T)]))).toBeNull();
  });
});

describe('parsePlayDelta', () => {
  it('accepts a valid delta', () => {
    expect(parsePlayDelta(good)).toEqual(good);
  });

  it.each([
    [{ ...good, v: 2 }, 'v: v must be 1'],
    [{ ...good, groups: [] }, 'groups: groups must cover at least one message'],
    [{ ...good, groups: [0, 1] }, 'groups.1: group 1 is not -1 (no play) nor a key index (the delta has 1 keys)'],
    [{ ...good, groups: [0, -2] }, 'groups.1: group -2 is not -1'],
    [{ ...good, groups: [0.5] }, 'groups.0: group 0.5 is not -1'],
    [{ ...good, groups: ['0'] }, 'groups.0'],
    [{ ...good, keys: [[61, 'a', 's', 1]] }, 'keys.0.0: a minute must be a multiple of 60 seconds'],
    [{ ...good, keys: [[60, 'a', 's', 1.5]] }, 'keys.0.3: a timestamp must be whole microseconds'],
    [{ ...good, partition: -1 }, 'partition'],
    [{ ...good, from: 2 ** 53 }, 'from'],
    [{ ...good, from: Number.MAX_SAFE_INTEGER }, 'groups: the offsets covered pass 2^53 - 1'],
    [{ ...good, topic: undefined }, 'topic'],
  ])('rejects a bad delta, saying where (%#)', (value, says) => {
    expect(rejection(value)).toContain(says);
  });

  it('rejects a delta over the size guard', () => {
    const huge = { ...good, groups: new Array<number>(MAX_DELTA_MESSAGES + 1).fill(-1) };
    expect(rejection(huge)).toContain(`groups may cover at most ${MAX_DELTA_MESSAGES} messages`);
  });

  it('names every problem at once', () => {
    expect(rejection({ v: 1, topic: '', partition: 0.5 }).split('; ').length).toBeGreaterThanOrEqual(4);
  });
});

describe('the covers header', () => {
  it('names the offsets a delta covers, read back from the bytes kafkajs gives', () => {
    const delta: PlayDelta = { ...good, topic: 'tony-allen-plays', partition: 3, from: 2 ** 40, groups: [0, -1, 0, 0] };
    expect(parseCoversHeader(Buffer.from(coversHeader(delta)))).toEqual({
      topic: 'tony-allen-plays',
      partition: 3,
      from: 2 ** 40,
      to: 2 ** 40 + 4,
    });
  });

  it.each([
    undefined,
    '',
    'plays:0:10',
    'plays:0:10:3:1',
    ':0:10:3',
    'plays:-1:10:3',
    'plays:0:x:3',
    'plays:0:1.5:3',
    `plays:0:${2 ** 53}:3`,
    ['plays:0:10:3', 'plays:0:10:3'],
  ])('is no header when it is not one: %j (the message is parsed)', (header) => {
    expect(parseCoversHeader(header)).toBeNull();
  });
});
