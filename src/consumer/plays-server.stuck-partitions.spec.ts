import type { DeadLetter } from '../dead-letters/dead-letters.service.js';
import type { PlaysServer } from './plays-server.js';
import { internals, nextOffset, payload, PLAY, resetOffsets, server } from './plays-server.test-bed.js';

// A partition held back (paused) while its commit point is stuck, and let go when it moves or on a rejoin.

/** Binds the server's consumer events to a fake consumer; returns how to fire one. */
async function withEvents(instance: PlaysServer) {
  const handlers = new Map<string, (event: unknown) => void>();
  const events = {
    GROUP_JOIN: 'join',
    CRASH: 'crash',
    DISCONNECT: 'disconnect',
    REBALANCING: 'rebalancing',
    FETCH: 'fetch',
    STOP: 'stop',
  };
  const consumer = {
    events,
    on: (name: string, handler: (event: unknown) => void) => handlers.set(name, handler),
    subscribe: () => Promise.resolve(),
    run: () => Promise.resolve(),
  };
  await internals(instance).bindEvents(consumer);
  return {
    join: (partitions: number[]) =>
      handlers.get('join')!({ payload: { groupId: 'g', memberAssignment: { 'tony-allen-plays': partitions } } }),
  };
}

describe('PlaysServer: a partition whose commit point is stuck', () => {
  beforeEach(() => {
    resetOffsets();
    vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    vi.spyOn(console, 'log').mockImplementation(() => undefined);
  });

  /** A server whose dead letters wait until the test lets them go (as while the dead-letter topic refuses them). */
  function stuckServer() {
    const refused: DeadLetter[] = [];
    const deadLetters = { put: (l: DeadLetter[]) => void refused.push(...l) };
    const built = server({ INGEST_PARTITION_MAX_UNCOMMITTED: '100' }, undefined, { deadLetters });
    Object.assign(internals(built.instance).membership, { owned: new Set([0, 1]) });
    return { ...built, refused };
  }
  const play = () => JSON.stringify({ ...PLAY, timestamp: new Date().toISOString() });
  const stuckFirst = (i: number) => (i === 0 ? 'not json' : play());

  it('takes no more from it once it holds INGEST_PARTITION_MAX_UNCOMMITTED messages past its commit point, pausing only it, and resumes once its commit point moves', async () => {
    const { instance, refused } = stuckServer();
    const onBatch = (p: ReturnType<typeof payload>) => internals(instance).onBatch(p);
    await onBatch(payload(10, stuckFirst)); // its first message a dead letter the topic refuses
    for (let i = 0; i < 9; i++) await onBatch(payload(10, play));
    await Promise.all(internals(instance).puts.inProgress);
    expect(refused).toHaveLength(1);
    expect(internals(instance).ledger.committable()).toEqual([]);

    const untaken = payload(10, play);
    await onBatch(untaken);
    expect(untaken.pause).toHaveBeenCalledTimes(1);
    // Not resolved: kafkajs fetches it again once the partition is resumed.
    expect(untaken.resolveOffset).not.toHaveBeenCalled();
    expect(instance.health.held).toEqual([expect.objectContaining({ partition: 0, uncommitted: 100, from: '0' })]);
    // The ledger stays at the 10 batches taken.
    expect(internals(instance).ledger.uncommittedOf(0)).toMatchObject({
      batches: 10,
    });

    // Another partition goes on.
    const other = payload(10, play, 0, 1);
    await onBatch(other);
    await Promise.all(internals(instance).puts.inProgress);
    expect(other.resolveOffset).toHaveBeenCalled();
    expect(internals(instance).ledger.committable()).toEqual([{ partition: 1, offset: String(nextOffset) }]);

    // The letter is written at last: the commit point moves past all 100, and the partition is taken from again.
    expect(untaken.resume).not.toHaveBeenCalled();
    refused[0]!.done();
    expect(untaken.resume).toHaveBeenCalledTimes(1);
    expect(instance.health.held).toEqual([]);
    const again = payload(10, play);
    await onBatch(again);
    expect(again.pause).not.toHaveBeenCalled();
    expect(again.resolveOffset).toHaveBeenCalled();
  });

  it('is resumed by a rejoin, which forgets what it held', async () => {
    const { instance } = stuckServer();
    const { join } = await withEvents(instance);
    for (let i = 0; i < 10; i++) await internals(instance).onBatch(payload(10, i === 0 ? stuckFirst : play));
    await Promise.all(internals(instance).puts.inProgress);
    const untaken = payload(10, play);
    await internals(instance).onBatch(untaken);
    expect(untaken.pause).toHaveBeenCalled();
    join([0, 1]);
    // kafkajs keeps a partition paused across a rebalance.
    expect(untaken.resume).toHaveBeenCalledTimes(1);
    expect(instance.health.held).toEqual([]);
    const redelivered = payload(10, play);
    await internals(instance).onBatch(redelivered);
    expect(redelivered.pause).not.toHaveBeenCalled();
  });

  it('has its kafka_partition_stalled_seconds series removed when it moves to another member', async () => {
    const { instance, sink, stalled } = server({ INGEST_STALL_TIMEOUT_MS: '5000' });
    const { join } = await withEvents(instance);
    join([0]);
    sink.instant = false;
    await internals(instance).onBatch(payload(3));
    await Promise.all(internals(instance).puts.inProgress);
    internals(instance).stalls.report(Date.now() + 6_000);
    const series = async (): Promise<Record<string, number>> =>
      Object.fromEntries((await stalled.get()).values.map((v) => [String(v.labels.partition), v.value]));
    expect((await series())['0']).toBeGreaterThan(5);
    join([1]);
    expect(await series()).toEqual({ 1: 0 });
  });

  it("takes from the other partitions while one partition's put waits on a sink that takes none of its rows, and holds that one", async () => {
    vi.useFakeTimers();
    try {
      const { instance, sink } = server();
      Object.assign(internals(instance).membership, { owned: new Set([0, 1]) });
      const onBatch = (p: ReturnType<typeof payload>) => internals(instance).onBatch(p);
      sink.stuck.add(0);
      // The first batch's put waits; three more are decoded and wait behind it: every decoding slot is partition 0's.
      for (let i = 0; i < 4; i++) await onBatch(payload(5, play));
      const other = payload(5, play, 0, 1);
      const taking = onBatch(other);
      await vi.advanceTimersByTimeAsync(10_000);
      await taking;
      expect(other.resolveOffset).toHaveBeenCalled();
      await vi.advanceTimersByTimeAsync(10);
      // Partition 1's commit point moves and goes out; partition 0's does not.
      expect(other.commitOffsetsIfNecessary).toHaveBeenCalledWith({
        topics: [
          {
            topic: 'tony-allen-plays',
            partitions: [expect.objectContaining({ partition: 1, offset: String(nextOffset) })],
          },
        ],
      });
      expect(internals(instance).ledger.committable()).toEqual([]);

      // Partition 0 is not taken from until its put goes through.
      const untaken = payload(5, play);
      await onBatch(untaken);
      expect(untaken.pause).toHaveBeenCalled();
      expect(untaken.resolveOffset).not.toHaveBeenCalled();
      expect(instance.health.held).toEqual([expect.objectContaining({ partition: 0 })]);
      sink.unstick();
      await vi.advanceTimersByTimeAsync(10);
      expect(untaken.resume).toHaveBeenCalled();
      expect(instance.health.held).toEqual([]);
    } finally {
      vi.useRealTimers();
    }
  });
});
