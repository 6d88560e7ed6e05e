import type { WriterAssignment } from '../writer.contract.js';
import { chunk, FakeWriter, laneWriter, sinkWith, soon } from './batching-play-sink.test-bed.js';

// An assignment, as the sink tells its writer: its starts, the lanes of one that is over, the commits.

describe('BatchingPlaySink', () => {
  it("gives a writer the assignment's starts only once the table exists (its streams are made in it)", async () => {
    const writer = new FakeWriter();
    let opened: WriterAssignment | undefined;
    writer.open = (assignment) => (opened = assignment);
    let tableMade!: () => void;
    const { sink } = sinkWith(writer, {}, new Promise<void>((resolve) => (tableMade = resolve)));
    const starts = vi.fn(() => Promise.resolve(new Map([[0, { offset: 0n, metadata: null }]])));
    sink.open({ partitions: [0], starts, requestCommit: () => undefined });
    const read = opened!.starts();
    let ready = false;
    void opened!.tableReady().then(() => (ready = true));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(starts).not.toHaveBeenCalled();
    expect(ready).toBe(false);
    tableMade();
    expect((await read).get(0)).toEqual({ offset: 0n, metadata: null });
    expect(ready).toBe(true);
  });

  it("abandons a writer's lane of an assignment that is over ('abandon'): its rows are dropped, never handed to the writer", async () => {
    const writer = laneWriter();
    const { sink } = sinkWith(writer, { SINK_LINGER_MS: 60_000 });
    const assignment = { partitions: [0], starts: () => Promise.resolve(new Map()), requestCommit: () => undefined };
    sink.open(assignment);
    const earlier = chunk(2);
    await sink.put(earlier);
    sink.open(assignment);
    const later = chunk(2, 2);
    await sink.put(later);
    expect(await sink.flush(soon())).toBe(true);
    expect(earlier.droppedCount).toBe(2);
    expect(earlier.doneCount).toBe(0);
    expect(writer.requests).toEqual([['r2', 'r3']]);
    expect(later.doneCount).toBe(2);
  });

  it('commits every offset without metadata for a writer with no preCommit of its own, and one with its own as it says', () => {
    const { sink } = sinkWith(new FakeWriter());
    expect(sink.preCommit(new Map([[0, 5n]]))).toEqual([{ partition: 0, offset: 5n, metadata: null }]);
    const writer = new FakeWriter();
    const committed: unknown[] = [];
    writer.preCommit = (offsets) => [...offsets].map(([partition, offset]) => ({ partition, offset, metadata: 'm' }));
    writer.committed = (commits, failure) => void committed.push([commits, failure]);
    const { sink: withOwn } = sinkWith(writer);
    const commits = withOwn.preCommit(new Map([[1, 7n]]));
    expect(commits).toEqual([{ partition: 1, offset: 7n, metadata: 'm' }]);
    withOwn.committed(commits);
    expect(committed).toEqual([[commits, undefined]]);
  });
});
