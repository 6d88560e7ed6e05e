import { livePartitionOf } from './live-topic.js';
import { OwnDeltaPartitions } from './own-delta-partitions.js';

// With 6 source and 6 live partitions, sources 0 and 2 both publish to live partition 2, and none to 4.
const ALL = new Set([0, 1, 2, 3, 4, 5]);
/** Every live partition's end offset after the assignment, as the reader reads it then. */
const ends = (end = 0) => new Map([0, 1, 2, 3, 4, 5].map((live) => [live, end]));

/** A tracker whose replica owns every source partition and has read live partition 2 to its end, `next`. */
function pausedAt(next: number) {
  const own = new OwnDeltaPartitions();
  own.owns(ALL, 6, 6, ends(next));
  expect(own.read(2, next, next)).toBe(true);
  return own;
}

describe('livePartitionOf', () => {
  it("maps a source partition as kafkajs' default partitioner maps its key", () => {
    expect(Array.from({ length: 6 }, (_, source) => livePartitionOf(source, 6))).toEqual([2, 3, 2, 5, 1, 0]);
    expect(livePartitionOf(5, 1)).toBe(0);
  });
});

describe('OwnDeltaPartitions', () => {
  it('pauses a live partition read to its end when every source partition publishing there is owned', () => {
    const own = new OwnDeltaPartitions();
    own.owns(ALL, 6, 6, ends(12));
    expect(own.read(3, 10, 12)).toBe(false);
    expect(own.read(3, 12, 12)).toBe(true);
    expect(own.pausedPartitions).toEqual([3]);
  });

  it('reads past the end as it was after the assignment before pausing: a former owner may have published there', () => {
    const own = new OwnDeltaPartitions();
    // Read to the end of a fetch made before the assignment, which is short of the end after it.
    own.read(3, 12, 12);
    expect(own.owns(ALL, 6, 6, ends(15)).pause).toEqual([]);
    expect(own.read(3, 14, 14)).toBe(false);
    expect(own.read(3, 15, 15)).toBe(true);
  });

  it('pauses at once what the reader has already read to the end when the assignment comes', () => {
    const own = new OwnDeltaPartitions();
    own.startsAt(5, 40);
    own.read(3, 12, 12);
    // The others are ours too, but nothing says where the reader is in them.
    expect(own.owns(ALL, 6, 6, ends(12).set(5, 40))).toEqual({ resume: [], pause: [3, 5] });
    expect(own.pausedPartitions).toEqual([3, 5]);
  });

  it('never pauses a live partition another replica may publish to; pauses one no source publishes to', () => {
    const own = new OwnDeltaPartitions();
    // Source 2 is someone else's, and it publishes to live partition 2 as source 0 does.
    own.owns(new Set([0, 1, 3, 4, 5]), 6, 6, ends(5));
    expect(own.read(2, 5, 5)).toBe(false);
    expect(own.read(4, 5, 5)).toBe(true);
    expect(own.read(3, 5, 5)).toBe(true);
  });

  it('pauses nothing when the live topic has another partition count than the deltas are placed by', () => {
    const own = new OwnDeltaPartitions();
    // Deltas placed by 6 partitions, the topic has 7 now: another replica may place them by 7.
    own.owns(ALL, 6, 6, ends(5).set(6, 5));
    expect(own.read(3, 5, 5)).toBe(false);
    // Nor one whose end is unknown (the ends read name 5 partitions of 6).
    const other = new OwnDeltaPartitions();
    other.owns(ALL, 6, 6, new Map([0, 1, 2, 3, 4].map((live) => [live, 5])));
    expect(other.read(3, 5, 5)).toBe(false);
  });

  it('pauses nothing while the partition counts are unknown or nothing is owned', () => {
    for (const [owned, sources, lives] of [
      [ALL, null, 6],
      [ALL, 6, null],
      [new Set<number>(), 6, 6],
    ] as const) {
      const own = new OwnDeltaPartitions();
      own.owns(owned, sources, lives, ends(5));
      expect(own.read(3, 5, 5)).toBe(false);
    }
  });

  it('moves the next offset past our own deltas acknowledged right at it, and keeps the partition paused', () => {
    const own = pausedAt(100);
    expect(own.published(2, 100, 3)).toBeNull();
    expect(own.published(2, 103, 1)).toBeNull();
    // A revocation resumes it past them: all counted on acknowledgement.
    expect(own.owns(new Set(), 6, 6)).toEqual({ resume: [{ partition: 2, from: 104 }], pause: [] });
    expect(own.pausedPartitions).toEqual([]);
  });

  it('resumes from the first offset not read when an acknowledgement shows something else before ours', () => {
    const own = pausedAt(100);
    expect(own.published(2, 100, 2)).toBeNull();
    // Offsets 102-104 are not ours (another publisher, or our retried send written twice).
    expect(own.published(2, 105, 1)).toEqual({ partition: 2, from: 102 });
    expect(own.pausedPartitions).toEqual([]);
    // Once read to its end again, it pauses again.
    expect(own.read(2, 106, 106)).toBe(true);
  });

  it('keeps the furthest next offset when a fetch made before the acknowledgement arrives late', () => {
    const own = pausedAt(100);
    own.published(2, 100, 5);
    own.read(2, 102, 102);
    expect(own.owns(new Set(), 6, 6).resume).toEqual([{ partition: 2, from: 105 }]);
  });

  it('ignores acknowledgements of a partition it has not read, and of offsets it has read past', () => {
    const own = new OwnDeltaPartitions();
    own.owns(ALL, 6, 6, ends(10));
    expect(own.published(3, 0, 4)).toBeNull();
    expect(own.read(3, 10, 10)).toBe(true);
    expect(own.published(3, 8, 2)).toBeNull();
    expect(own.owns(new Set(), 6, 6).resume).toEqual([{ partition: 3, from: 10 }]);
  });

  it('resumes a partition that stops being only ours when the assignment changes, and no other', () => {
    const own = new OwnDeltaPartitions();
    own.owns(ALL, 6, 6, ends(7));
    own.read(2, 7, 7);
    own.read(3, 9, 9);
    // Source 2 goes to another replica: live partition 2 gets its deltas; 3 stays ours.
    expect(own.owns(new Set([0, 1, 3, 4, 5]), 6, 6, ends(9)).resume).toEqual([{ partition: 2, from: 7 }]);
    expect(own.pausedPartitions).toEqual([3]);
  });

  it('resumes everything from where the reader is when its group starts over, and pauses again once read to the end', () => {
    const own = pausedAt(100);
    own.read(3, 100, 100);
    expect(own.reset()).toEqual([
      { partition: 2, from: null },
      { partition: 3, from: null },
    ]);
    // Positions are forgotten: an acknowledgement no longer moves anything.
    expect(own.published(2, 100, 1)).toBeNull();
    expect(own.read(2, 50, 60)).toBe(false);
    expect(own.read(2, 99, 99)).toBe(false);
    expect(own.read(2, 101, 101)).toBe(true);
  });
});
