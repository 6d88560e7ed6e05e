import { chunk, ExactlyOnceTestBed, whole } from './exactly-once-test-bed.js';
import { StreamCheckpoints } from './stream-checkpoints.js';
import { decodeStreamRecord } from './stream-record.js';

describe('StreamCheckpoints', () => {
  it('records, for a commit, the last checkpoint at or before its offset, and forgets the ones before it', () => {
    const checkpoints = new StreamCheckpoints();
    checkpoints.startAt('s', 10n, 2);
    checkpoints.take('s', 13n, 3, 0);
    checkpoints.take('s', 15n, 5, 0);
    expect(checkpoints.recordAt(9n)).toBeUndefined();
    expect(decodeStreamRecord(checkpoints.recordAt(10n))).toEqual({ stream: 's', rows: 0, carried: 2 });
    expect(decodeStreamRecord(checkpoints.recordAt(14n))).toEqual({ stream: 's', rows: 3, carried: 0 });
    expect(checkpoints.length).toBe(2);
    // Commits only move forward: the checkpoint at 10 is gone.
    expect(checkpoints.recordAt(10n)).toBeUndefined();
  });

  it('counts the plays refused since a checkpoint was taken as carried in its record', () => {
    const checkpoints = new StreamCheckpoints();
    checkpoints.startAt('s', 0n, 0);
    checkpoints.countRefused(2);
    checkpoints.take('s', 5n, 3, 0);
    expect(checkpoints.oldest()).toEqual({ next: 0n, record: { stream: 's', rows: 0, carried: 2 } });
    expect(decodeStreamRecord(checkpoints.recordAt(5n))).toEqual({ stream: 's', rows: 3, carried: 0 });
  });

  it('moved to a new stream: the rows of the old one after each checkpoint become plays carried', () => {
    const checkpoints = new StreamCheckpoints();
    checkpoints.startAt('old', 0n, 1);
    checkpoints.take('old', 4n, 3, 0);
    checkpoints.moveTo('new', 5);
    expect(checkpoints.oldest()).toEqual({ next: 0n, record: { stream: 'new', rows: 0, carried: 6 } });
    expect(decodeStreamRecord(checkpoints.recordAt(4n))).toEqual({ stream: 'new', rows: 0, carried: 2 });
  });
});

describe('StreamCheckpoints (through ExactlyOnceWriter) against a stand-in of COMMITTED streams', () => {
  const bed = new ExactlyOnceTestBed();
  beforeEach(() => bed.start());
  afterEach(() => bed.stop());

  it('keeps a checkpoint per chunk written past the commit point, no more: bounding what a partition holds uncommitted (INGEST_PARTITION_MAX_UNCOMMITTED) bounds them', async () => {
    bed.assign({ offset: 0n, metadata: null });
    const checkpoints = () =>
      (bed.writer as unknown as { lanes: Map<number, { checkpoints: { length: number } }> }).lanes.get(0)!.checkpoints
        .length;
    // A commit point stuck at 0 (a dead letter of offset 0 not yet written): 50 chunks written after it.
    for (let i = 0; i < 50; i++) await bed.writer.append(whole(chunk(1 + 10 * i, 10)));
    expect(checkpoints()).toBe(1 + 50);
    // The commit point moves to the end of the 20th chunk: the checkpoints before it go.
    expect(bed.writer.recordAt(0, 201n)).toBeDefined();
    expect(checkpoints()).toBe(31);
  });
});
