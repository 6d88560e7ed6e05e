import type { AppConfig } from '../../config/config.module.js';
import type { AppendResult } from '../writer.contract.js';
import { chunk, FakeWriter, laneWriter, sinkWith, soon } from './batching-play-sink.test-bed.js';

// Lanes and the buffer they share: when a lane is sent, how many requests it keeps under way, when a put waits.

describe('BatchingPlaySink', () => {
  it('sends a lane once it holds its share of the buffer, not a full request, without waiting for the linger', async () => {
    const writer = laneWriter();
    // Two lanes share 40 buffered rows: a lane is due at 40 / (2 * 2) = 10 rows.
    const { sink } = sinkWith(writer, { SINK_BATCH_MAX_ROWS: 100, SINK_MAX_BUFFERED_ROWS: 40, SINK_LINGER_MS: 60_000 });
    await sink.put({ ...chunk(6, 100), partition: 1 });
    await sink.put(chunk(10));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(writer.requests).toEqual([Array.from({ length: 10 }, (_, i) => `r${i}`)]);
    expect(await sink.flush(soon())).toBe(true);
    expect(writer.requests[1]).toEqual(Array.from({ length: 6 }, (_, i) => `r${100 + i}`));
  });

  it('keeps SINK_MAX_IN_FLIGHT requests under way per lane (a connection each), not across lanes', async () => {
    const writer = laneWriter();
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    writer.append = async function (this: FakeWriter, segments) {
      const result = FakeWriter.prototype.append.call(this, segments);
      await held;
      return result;
    };
    const { sink } = sinkWith(writer, { SINK_BATCH_MAX_ROWS: 2, SINK_MAX_IN_FLIGHT: 2, SINK_LINGER_MS: 60_000 });
    for (const partition of [0, 1, 2]) await sink.put({ ...chunk(6, partition * 100), partition });
    const done = sink.flush(soon());
    await new Promise((resolve) => setTimeout(resolve, 20));
    // Two requests of each lane's first four rows; their last two rows wait for a lane's turn.
    expect(writer.requests.map((rows) => rows[0])).toEqual(['r0', 'r2', 'r100', 'r102', 'r200', 'r202']);
    release();
    expect(await done).toBe(true);
    expect(
      writer.requests
        .map((rows) => rows[0])
        .slice(6)
        .sort(),
    ).toEqual(['r104', 'r204', 'r4']);
  });

  it('sends a lane at once when a backlog ends in it, without waiting for its share or the linger', async () => {
    const writer = laneWriter();
    const { sink } = sinkWith(writer, { SINK_BATCH_MAX_ROWS: 100, SINK_MAX_BUFFERED_ROWS: 40, SINK_LINGER_MS: 60_000 });
    await sink.put({ ...chunk(3, 100), partition: 1 });
    await sink.put(chunk(3));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(writer.requests).toEqual([]);
    // Partition 0's backlog ends: its lane goes, partition 1's keeps waiting for more.
    await sink.put({ ...chunk(2, 3), endsBacklog: true });
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(writer.requests).toEqual([['r0', 'r1', 'r2', 'r3', 'r4']]);
    // A backlog that ends in a batch without rows (dead letters only) sends what the lane holds.
    await sink.put({ ...chunk(0, 103), partition: 1, endsBacklog: true });
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(writer.requests[1]).toEqual(['r100', 'r101', 'r102']);
    // Rows after the end trickle in again: they wait.
    await sink.put(chunk(1, 5));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(writer.requests).toHaveLength(2);
  });

  it('waits in put while SINK_MAX_BUFFERED_ROWS rows are held', async () => {
    const writer = new FakeWriter();
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    writer.append = async function (this: FakeWriter, segments) {
      await held;
      return FakeWriter.prototype.append.call(this, segments);
    };
    const { sink } = sinkWith(writer, { SINK_MAX_BUFFERED_ROWS: 6 });
    await sink.put(chunk(4));
    let taken = false;
    const put = sink.put(chunk(4, 4)).then(() => (taken = true));
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(taken).toBe(false);
    expect(sink.health.bufferedRows).toBe(8);
    release();
    await put;
    expect(await sink.flush(soon())).toBe(true);
  });

  describe('a lane per partition: each may hold its share of SINK_MAX_BUFFERED_ROWS', () => {
    /** Partition 0's appends never answer (its stream is stuck); the others' are written at once. */
    function stuckLaneSink(settings: Partial<AppConfig> = {}) {
      const writer = laneWriter();
      writer.append = function (this: FakeWriter, segments) {
        if (segments[0]!.chunk.partition === 0) return new Promise<AppendResult>(() => undefined);
        return FakeWriter.prototype.append.call(this, segments);
      };
      const { sink } = sinkWith(writer, { SINK_MAX_BUFFERED_ROWS: 20, SINK_BATCH_MAX_ROWS: 4, ...settings });
      sink.open({ partitions: [0, 1], starts: () => Promise.resolve(new Map()), requestCommit: () => undefined });
      return { sink, writer };
    }
    const settled = async (put: Promise<void>) =>
      Promise.race([put.then(() => true), new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 100))]);

    it("a stuck lane's put waits at its share, and the other lanes' puts go on", async () => {
      const { sink, writer } = stuckLaneSink();
      // 2 lanes of 20 rows: 10 each. Partition 0 holds 25, past its share (and the whole buffer): its put waits.
      expect(await settled(sink.put(chunk(25)))).toBe(false);
      // Partition 1 goes on: without shares, its put would wait for room in the buffer partition 0 fills.
      for (let i = 0; i < 5; i++) {
        expect(await settled(sink.put({ ...chunk(4, 100 + 4 * i), partition: 1 }))).toBe(true);
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(writer.requests.flat().filter((row) => Number(row.slice(1)) >= 100)).toHaveLength(20);
      expect(sink.health.bufferedRows).toBe(25);
    });

    it('keeps the total bounded: a lane past its share waits even while the buffer has room', async () => {
      const { sink } = stuckLaneSink();
      expect(await settled(sink.put(chunk(6)))).toBe(true);
      expect(await settled(sink.put(chunk(6, 6)))).toBe(false);
      expect(sink.health.bufferedRows).toBe(12);
    });

    it('sends a lane holding its share at once, not after the linger, so its put does not wait it out', async () => {
      const writer = laneWriter();
      // 4 lanes of 40 rows: 10 each; with one lane holding rows a request would wait for 20 or the linger.
      const { sink } = sinkWith(writer, {
        SINK_MAX_BUFFERED_ROWS: 40,
        SINK_BATCH_MAX_ROWS: 100,
        SINK_LINGER_MS: 60_000,
      });
      sink.open({ partitions: [0, 1, 2, 3], starts: () => Promise.resolve(new Map()), requestCommit: () => undefined });
      expect(await settled(sink.put(chunk(12)))).toBe(true);
      expect(writer.requests).toEqual([Array.from({ length: 12 }, (_, i) => `r${i}`)]);
    });
  });
});
