import kafkajs from 'kafkajs';
import type { BatchPlace } from '../live/live-deltas.js';
import type { PlayDelta } from '../live/play-delta.js';
import { decodeBatch } from '../decode/play-batch.js';
import { encoding, internals, nextOffset, payload, PLAY, resetOffsets, server } from './plays-server.test-bed.js';

// How the server takes a batch: decode, put, publish its live delta, commit, and hold memory meanwhile.

describe('PlaysServer: taking batches', () => {
  beforeEach(() => {
    resetOffsets();
    vi.spyOn(console, 'error').mockImplementation(() => undefined);
    vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    vi.spyOn(console, 'log').mockImplementation(() => undefined);
  });

  it('commits a batch once its plays are written and its bad messages dead-lettered, and gives its memory back', async () => {
    const { instance, letters } = server();
    const batch = payload(10, (i) =>
      i === 4 ? 'not json' : JSON.stringify({ ...PLAY, timestamp: new Date().toISOString() }),
    );
    await internals(instance).onBatch(batch);
    await Promise.all(internals(instance).puts.inProgress);
    expect(letters.map((l) => l.reason)).toEqual(['not_json']);
    expect(internals(instance).ledger.committable()).toEqual([{ partition: 0, offset: '10' }]);
    expect(batch.resolveOffset).toHaveBeenCalledWith('9');
    expect(internals(instance).intake.budget.heldBytes).toBe(0);
  });

  it("with the live view on, publishes a done batch's delta (bad messages and refused rows as no play) before its offsets can be committed", async () => {
    const { instance, sink, published, release } = server({ LIVE_ENABLED: 'true' }, (batch) =>
      Promise.resolve(decodeBatch(batch, encoding, { plays: true })),
    );
    // Row 2 (message 3, past the bad message 1) is refused by BigQuery.
    sink.refused.add(2);
    const batch = payload(5, (i) =>
      i === 1
        ? 'not json'
        : JSON.stringify({ ...PLAY, song_name: `song ${i % 2}`, timestamp: new Date().toISOString() }),
    );
    const from = nextOffset - 5;
    await internals(instance).onBatch(batch);
    await Promise.all(internals(instance).puts.inProgress);
    expect(published).toHaveLength(1);
    const [delta] = published;
    expect(delta).toMatchObject({ v: 1, topic: 'plays', partition: 0, from });
    // Messages 0, 2, 4 are plays of "song 0"; 1 is not json; 3 ("song 1") was refused: no play.
    expect(delta!.groups).toEqual([0, -1, 0, -1, 0]);
    expect(delta!.keys.map(([, artist, song]) => [artist, song])).toEqual([['tony-allen', 'song 0']]);
    // Not committable until the delta is acknowledged.
    expect(internals(instance).ledger.committable()).toEqual([]);
    expect(batch.commitOffsetsIfNecessary).not.toHaveBeenCalled();
    release();
    await vi.waitFor(() =>
      expect(batch.commitOffsetsIfNecessary).toHaveBeenCalledWith({
        topics: [
          {
            topic: 'tony-allen-plays',
            partitions: [expect.objectContaining({ partition: 0, offset: String(from + 5) })],
          },
        ],
      }),
    );
  });

  it('with the live view on, a graceful stop waits for the deltas being published, then commits their batches', async () => {
    const { instance, published, release } = server({ LIVE_ENABLED: 'true' }, (batch) =>
      Promise.resolve(decodeBatch(batch, encoding, { plays: true })),
    );
    Object.assign(instance, { consumer: { pause: vi.fn() }, running: true });
    const batch = payload(3);
    const from = nextOffset - 3;
    await internals(instance).onBatch(batch);
    await Promise.all(internals(instance).puts.inProgress);
    expect(published).toHaveLength(1);
    let stopped = false;
    const stopping = instance.beforeApplicationShutdown().then(() => void (stopped = true));
    await new Promise((resolve) => setTimeout(resolve, 100));
    // Written, but its delta is not acknowledged: committing now would commit nothing of it.
    expect(stopped).toBe(false);
    release();
    await stopping;
    expect(batch.commitOffsetsIfNecessary).toHaveBeenCalledWith({
      topics: [
        {
          topic: 'tony-allen-plays',
          partitions: [expect.objectContaining({ partition: 0, offset: String(from + 3) })],
        },
      ],
    });
  });

  it('with the live view on, gives up publishing a delta whose partition moved on: the batch stays uncommitted', async () => {
    const published: PlayDelta[] = [];
    let owned: (() => boolean) | undefined;
    const liveDeltas = {
      publish: (delta: PlayDelta, stillOwned: () => boolean) => {
        published.push(delta);
        owned = stillOwned;
        return Promise.resolve(false);
      },
    };
    const { instance } = server(
      { LIVE_ENABLED: 'true' },
      (batch) => Promise.resolve(decodeBatch(batch, encoding, { plays: true })),
      { liveDeltas },
    );
    await internals(instance).onBatch(payload(3));
    await Promise.all(internals(instance).puts.inProgress);
    expect(owned!()).toBe(true);
    Object.assign(internals(instance).membership, { owned: new Set([1]) });
    expect(owned!()).toBe(false);
    await Promise.resolve();
    expect(internals(instance).ledger.committable()).toEqual([]);
  });

  it('with the live view on, tells the live deltas where each batch stands: behind, ending the backlog, caught up', async () => {
    const asked: BatchPlace[] = [];
    const liveDeltas = {
      publish: (_delta: PlayDelta, _owned: () => boolean, place: BatchPlace) => {
        asked.push(place);
        return Promise.resolve(true);
      },
    };
    const { instance } = server(
      { LIVE_ENABLED: 'true' },
      (batch) => Promise.resolve(decodeBatch(batch, encoding, { plays: true })),
      { liveDeltas },
    );
    // Behind, then at the end (the backlog ends), then at the end again (caught up: trickling).
    for (const behind of [100, 0, 0]) {
      await internals(instance).onBatch(payload(3, undefined, behind));
      await Promise.all(internals(instance).puts.inProgress);
    }
    expect(asked).toEqual(['behind', 'ends-backlog', 'caught-up']);
  });

  it('puts nothing of a batch whose assignment is over by the time it is decoded (the sink opened a newer one): its memory is given back, nothing committed', async () => {
    let decoded!: () => void;
    const { instance, sink } = server({}, (batch) =>
      new Promise<void>((resolve) => (decoded = resolve)).then(() => decodeBatch(batch, encoding)),
    );
    await internals(instance).onBatch(payload(10));
    // A new generation begins while the batch is being decoded.
    internals(instance).membership.assignmentId++;
    decoded();
    await Promise.all(internals(instance).puts.inProgress);
    expect(sink.chunks).toEqual([]);
    expect(internals(instance).intake.budget.heldBytes).toBe(0);
    expect(internals(instance).ledger.committable()).toEqual([]);
  });

  it('decodes a batch again when decoding throws, instead of leaving it uncommitted while consumption goes on', async () => {
    let failures = 2;
    const { instance, sink } = server({}, (batch) =>
      failures-- > 0 ? Promise.reject(new Error('worker died')) : Promise.resolve(decodeBatch(batch, encoding)),
    );
    await internals(instance).onBatch(payload(5));
    await Promise.all(internals(instance).puts.inProgress);
    expect(failures).toBe(-1);
    expect(sink.chunks).toHaveLength(1);
    expect(internals(instance).ledger.committable()).toEqual([{ partition: 0, offset: '5' }]);
  });

  it('reports a partition whose messages stay unwritten past the stall timeout, and not before', async () => {
    const { instance, sink } = server({ INGEST_STALL_TIMEOUT_MS: '5000' });
    sink.instant = false;
    const now = Date.now();
    expect(internals(instance).stalls.stalled(now)).toEqual([]);
    await internals(instance).onBatch(payload(3));
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(internals(instance).stalls.stalled(now)).toEqual([]);
    expect(internals(instance).stalls.stalled(now + 6_000)).toEqual([
      expect.objectContaining({ partition: 0, pending: 3 }),
    ]);
    sink.writeAll();
    expect(internals(instance).stalls.stalled(Date.now() + 6_000)).toEqual([]);
  });

  it('takes no more while the memory budget is spent, heartbeating, and goes on once memory is given back', async () => {
    const { instance, sink } = server({ INGEST_MEMORY_BUDGET_MB: '4' });
    sink.instant = false;
    const big = () => JSON.stringify({ ...PLAY, timestamp: new Date().toISOString(), pad: 'x'.repeat(100_000) });
    // 20 plays of 100 KB cost about 4 MB: the budget.
    await internals(instance).onBatch(payload(20, big));
    await new Promise((resolve) => setTimeout(resolve, 10));
    const next = payload(20, big);
    let taken = false;
    const waiting = internals(instance)
      .onBatch(next)
      .then(() => (taken = true));
    await new Promise((resolve) => setTimeout(resolve, 3_500));
    expect(taken).toBe(false);
    expect(next.resolveOffset).not.toHaveBeenCalled();
    expect(next.heartbeat).toHaveBeenCalled();
    sink.writeAll();
    await waiting;
    expect(next.resolveOffset).toHaveBeenCalledWith('39');
  });

  it('throws a heartbeat that finds the group rebalancing to kafkajs, leaving the waiting batch untaken', async () => {
    const { instance, sink } = server({ INGEST_MEMORY_BUDGET_MB: '4' });
    sink.instant = false;
    const big = () => JSON.stringify({ ...PLAY, timestamp: new Date().toISOString(), pad: 'x'.repeat(100_000) });
    await internals(instance).onBatch(payload(20, big));
    const next = payload(5, big);
    const rebalancing = new kafkajs.KafkaJSProtocolError({
      type: 'REBALANCE_IN_PROGRESS',
      message: 'The group is rebalancing',
      retriable: false,
    } as unknown as Error);
    next.heartbeat.mockImplementation(() => Promise.reject(rebalancing));
    await expect(internals(instance).onBatch(next)).rejects.toBe(rebalancing);
    expect(next.resolveOffset).not.toHaveBeenCalled();
  });
});
