import kafkajs from 'kafkajs';
import { Counter, Gauge } from 'prom-client';
import { parseEnv } from '../config/parse-env.js';
import type { DeadLetter, DeadLetters } from '../dead-letters/dead-letters.service.js';
import {
  AssignmentEnded,
  type Assignment,
  type OffsetCommit,
  type PlaySink,
  type RowChunk,
} from '../sink/sink.contract.js';
import { createRowEncoding } from '../sink/insert-all/row-encoding.js';
import type { LiveDeltas } from '../live/live-deltas.js';
import type { PlayDelta } from '../live/play-delta.js';
import { decodeBatch, type PackedBatch } from '../decode/play-batch.js';
import type { PlayDecoder } from '../decode/play-decoder.js';
import type { BatchIntake } from './batch-intake.js';
import type { BatchPuts } from './batch-puts.js';
import type { GroupMembership } from './group-membership.js';
import type { OffsetCommitter } from './offset-committer.js';
import type { OffsetLedger } from './offset-ledger.js';
import type { PartitionStalls } from './partition-stalls.js';
import { PlaysServer } from './plays-server.js';

const PLAY = {
  user_id: 45213,
  artist: 'tony-allen',
  song_id: 3,
  song_name: 'kindness',
  event_type: 'song_completed',
};

/** A sink that takes rows and writes them when the test says (`writeAll`), or at once with `instant`. */
class FakeSink implements PlaySink {
  chunks: RowChunk[] = [];
  instant = true;
  health = { bufferedRows: 0, failingSince: null, writable: true, detail: '' };
  /** Partitions whose puts wait until `unstick` (their lane holds its share and writes nothing). */
  stuck = new Set<number>();
  /** Rows (by index in their chunk) BigQuery refuses: dead-lettered, not written. */
  refused = new Set<number>();
  private waiting: (() => void)[] = [];
  put(chunk: RowChunk): Promise<void> {
    this.chunks.push(chunk);
    if (this.stuck.has(chunk.partition)) return new Promise((resolve) => this.waiting.push(resolve));
    for (const row of this.refused) chunk.lettered(row);
    if (this.instant) chunk.done(chunk.ends.length);
    return Promise.resolve();
  }
  unstick(): void {
    this.stuck.clear();
    for (const resolve of this.waiting.splice(0)) resolve();
  }
  writeAll(): void {
    for (const chunk of this.chunks.splice(0)) chunk.done(chunk.ends.length);
  }
  flush = () => Promise.resolve(true);
  /** What the sink was told, in order: `open 0,1` or `close 0`. */
  told: string[] = [];
  open = (assignment: Assignment) => void this.told.push(`open ${assignment.partitions.join()}`);
  close = (partitions: readonly number[]) => void this.told.push(`close ${partitions.join()}`);
  /** Commits of the sink's own (an exactly-once sink's records), waiting to land. */
  private own = new Map<OffsetCommit, { resolve(): void; reject(error: unknown): void }>();
  /** Has the consumer commit `metadata` at `offset`, as an exactly-once sink records its stream. */
  record(assignment: Assignment, partition: number, offset: bigint, metadata: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.own.set({ partition, offset, metadata }, { resolve, reject });
      assignment.requestCommit();
    });
  }
  preCommit(offsets: ReadonlyMap<number, bigint>): OffsetCommit[] {
    const own = [...this.own.keys()];
    const others = [...offsets].filter(([partition]) => !own.some((commit) => commit.partition === partition));
    return [...own, ...others.map(([partition, offset]) => ({ partition, offset, metadata: null }))];
  }
  committed(commits: readonly OffsetCommit[], failure?: unknown): void {
    for (const commit of commits) {
      const waiting = this.own.get(commit);
      if (waiting === undefined) continue;
      this.own.delete(commit);
      if (failure === undefined) waiting.resolve();
      else waiting.reject(failure);
    }
  }
}

/** A server with fakes around it; `parts` replaces the dead letters or the live view's publisher. */
function server(
  env: Record<string, string> = {},
  decode?: (batch: PackedBatch) => Promise<ReturnType<typeof decodeBatch>>,
  parts: { deadLetters?: Pick<DeadLetters, 'put'>; liveDeltas?: Pick<LiveDeltas, 'publish'> } = {},
) {
  const config = parseEnv({ BIGQUERY_PROJECT_ID: 'plays-test', INGEST_DECODE_THREADS: '0', ...env });
  const sink = new FakeSink();
  const letters: DeadLetter[] = [];
  const deadLetters = {
    put: (l: DeadLetter[]) => l.forEach((x) => (letters.push(x), x.done())),
    flush: () => Promise.resolve(true),
  } as unknown as DeadLetters;
  const decoder = {
    decode: decode ?? ((batch: PackedBatch) => Promise.resolve(decodeBatch(batch, encoding))),
  } as PlayDecoder;
  const gauge = (name: string, labelNames: string[] = []) => new Gauge({ name, help: name, labelNames, registers: [] });
  const stalled = gauge('stalled', ['topic', 'partition']);
  const published: PlayDelta[] = [];
  const publishing: (() => void)[] = [];
  // Publishes when the test says (release), as the broker acknowledges.
  const liveDeltas = {
    publish: (delta: PlayDelta) =>
      new Promise<boolean>((resolve) => {
        published.push(delta);
        publishing.push(() => resolve(true));
      }),
  } as unknown as LiveDeltas;
  const release = () => publishing.splice(0).forEach((publish) => publish());
  const instance = new PlaysServer(
    config,
    sink,
    (parts.deadLetters as DeadLetters | undefined) ?? deadLetters,
    decoder,
    (parts.liveDeltas as LiveDeltas | undefined) ?? liveDeltas,
    new Counter({ name: 'consumed', help: 'c', registers: [] }),
    gauge('lag', ['topic', 'partition']),
    stalled,
    gauge('held'),
  );
  // As after a join that assigned partition 0.
  Object.assign(internals(instance).membership, { owned: new Set([0]), joined: true });
  return { instance, sink, letters, config, stalled, published, release };
}

const encoding = createRowEncoding();
let nextOffset = 0;
/**
 * A kafkajs eachBatch payload of `count` messages of partition 0 (plays, or `value` for each), with
 * `behind` more messages in the partition after it.
 */
function payload(
  count: number,
  value: (i: number) => string = () => JSON.stringify({ ...PLAY, timestamp: new Date().toISOString() }),
  behind = 0,
  partition = 0,
) {
  const messages = Array.from({ length: count }, (_, i) => ({
    offset: String(nextOffset++),
    key: null,
    value: Buffer.from(value(i)),
    headers: {},
  }));
  const resume = vi.fn();
  return {
    batch: { topic: 'plays', partition, messages, highWatermark: String(nextOffset + behind) },
    isRunning: () => true,
    isStale: () => false,
    resolveOffset: vi.fn(),
    heartbeat: vi.fn(() => Promise.resolve()),
    commitOffsetsIfNecessary: vi.fn((_offsets: unknown) => Promise.resolve()),
    resume,
    pause: vi.fn(() => resume),
  };
}

/** The server's parts, as the tests drive and read them. */
type Internals = {
  onBatch(p: ReturnType<typeof payload>): Promise<void>;
  ledger: OffsetLedger;
  membership: GroupMembership;
  intake: BatchIntake;
  puts: BatchPuts;
  stalls: PartitionStalls;
  commits: OffsetCommitter;
  assignment(id: number, partitions: number[]): Assignment;
  lagTimer: NodeJS.Timeout;
  bindEvents(consumer: unknown): Promise<void>;
};
const internals = (s: PlaysServer) => s as unknown as Internals;

/**
 * Binds the server's events to a stand-in consumer that keeps their listeners, with the commit loop
 * and the lag timer stopped, so a test fires kafkajs' events itself.
 */
async function bindToStandIn(instance: PlaysServer) {
  const listeners = new Map<string, (event: { payload: unknown }) => void>();
  const events = kafkajs.Kafka.prototype.consumer.call(new kafkajs.Kafka({ brokers: ['127.0.0.1:1'] }), {
    groupId: 'g',
  }).events;
  const consumer = {
    events,
    on: (name: string, listener: (event: { payload: unknown }) => void) => listeners.set(name, listener),
    subscribe: () => Promise.resolve(),
    run: () => Promise.resolve(),
  };
  await instance.bindEvents(consumer as never);
  internals(instance).commits.stop();
  clearInterval(internals(instance).lagTimer);
  return { listeners, events };
}

describe('PlaysServer: taking batches', () => {
  beforeEach(() => {
    nextOffset = 0;
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

describe('PlaysServer: an assignment of an exactly-once sink', () => {
  beforeEach(() => {
    vi.spyOn(console, 'log').mockImplementation(() => undefined);
  });

  it('reads the starts only once the commits of the assignment before have landed or failed', async () => {
    const { instance, sink } = server();
    let landCommit!: () => void;
    const commitOffsets = vi.fn(() => new Promise<void>((resolve) => (landCommit = resolve)));
    const fetchOffsets = vi.fn(() =>
      Promise.resolve([{ topic: 'tony-allen-plays', partitions: [{ partition: 0, offset: '7', metadata: 'm' }] }]),
    );
    const admin = {
      connect: () => Promise.resolve(),
      describeCluster: () => Promise.resolve({}),
      disconnect: () => Promise.resolve(),
      fetchOffsets,
      fetchTopicOffsets: () => Promise.resolve([{ partition: 0, low: '0', high: '9' }]),
    };
    internals(instance).commits.use(commitOffsets);
    Object.assign(instance, { client: { admin: () => admin } });
    internals(instance).membership.assignmentId = 1;
    const earlier = internals(instance).assignment(1, [0]);
    // A commit of the earlier assignment still in flight while the group moves on.
    const recording = sink.record(earlier, 0, 5n, 'earlier record').catch(() => undefined);
    await vi.waitFor(() => expect(commitOffsets).toHaveBeenCalled());
    internals(instance).membership.assignmentId = 2;
    const starts = internals(instance).assignment(2, [0]).starts();
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(fetchOffsets).not.toHaveBeenCalled();
    landCommit();
    await recording;
    expect((await starts).get(0)).toEqual({ offset: 7n, metadata: 'm' });
    expect(fetchOffsets).toHaveBeenCalledTimes(1);
  });

  it("commits once, as the member kafkajs is now, never through kafkajs' retrying commitOffsets; a failed commit goes again only while the partition is owned", async () => {
    const { instance } = server();
    const kafkajsCommit = vi.fn(() => Promise.resolve());
    Object.assign(instance, { consumer: { commitOffsets: kafkajsCommit } });
    const batch = payload(10);
    const notCoordinator = new kafkajs.KafkaJSProtocolError({
      type: 'NOT_COORDINATOR',
      message: 'This is not the correct coordinator for this group',
      retriable: true,
    } as unknown as Error);
    batch.commitOffsetsIfNecessary.mockImplementation(() => Promise.reject(notCoordinator));
    await internals(instance).onBatch(batch);
    await Promise.all(internals(instance).puts.inProgress);
    await internals(instance).commits.commit();
    expect(batch.commitOffsetsIfNecessary).toHaveBeenCalledTimes(1);
    expect(batch.commitOffsetsIfNecessary).toHaveBeenCalledWith({
      topics: [
        { topic: 'tony-allen-plays', partitions: [{ partition: 0, offset: String(nextOffset), metadata: null }] },
      ],
    });
    // The group moves on: the commit that failed is not sent again, by the service or by kafkajs.
    internals(instance).membership.lost();
    await internals(instance).commits.commit();
    expect(batch.commitOffsetsIfNecessary).toHaveBeenCalledTimes(1);
    expect(kafkajsCommit).not.toHaveBeenCalled();
  });

  it('a commit refused because the coordinator moved (a broker restart) is sent again: the member still owns its partitions', async () => {
    const { instance } = server();
    const batch = payload(10);
    const movedCoordinator = new kafkajs.KafkaJSProtocolError({
      type: 'NOT_COORDINATOR_FOR_GROUP',
      message: 'This is not the correct coordinator for this group',
      retriable: true,
    } as unknown as Error);
    batch.commitOffsetsIfNecessary.mockImplementationOnce(() => Promise.reject(movedCoordinator));
    await internals(instance).onBatch(batch);
    await Promise.all(internals(instance).puts.inProgress);
    await internals(instance).commits.commit();
    expect(internals(instance).membership.joined).toBe(true);
    await internals(instance).commits.commit();
    expect(batch.commitOffsetsIfNecessary).toHaveBeenCalledTimes(2);
    expect(batch.commitOffsetsIfNecessary).toHaveBeenLastCalledWith({
      topics: [
        { topic: 'tony-allen-plays', partitions: [{ partition: 0, offset: String(nextOffset), metadata: null }] },
      ],
    });
  });

  it("the sink's own commit (an assignment's record) waits for the run's first batch (its way to commit), and is never sent once the assignment is over", async () => {
    const { instance, sink } = server();
    internals(instance).membership.assignmentId = 1;
    const assignment = internals(instance).assignment(1, [0]);
    const recorded = sink.record(assignment, 0, 0n, 'record of assignment 1');
    const first = payload(1);
    await internals(instance).onBatch(first);
    await recorded;
    expect(first.commitOffsetsIfNecessary).toHaveBeenCalledWith({
      topics: [
        { topic: 'tony-allen-plays', partitions: [{ partition: 0, offset: '0', metadata: 'record of assignment 1' }] },
      ],
    });
    // The generation is over: the record is refused before anything is sent (a new assignment's
    // open ends the sink's own commits of the one before, see ExactlyOnceWriter's spec).
    internals(instance).membership.lost();
    await expect(sink.record(assignment, 0, 1n, 'late record')).rejects.toBeInstanceOf(AssignmentEnded);
    expect(first.commitOffsetsIfNecessary).toHaveBeenCalledTimes(1);
  });

  it('a JoinGroup answered ends the assignment at once, before kafkajs reports the join: nothing of the old one is committed under the new generation', async () => {
    const { instance, sink } = server();
    const { listeners, events } = await bindToStandIn(instance);
    listeners.get(events.GROUP_JOIN)!({
      payload: { groupId: 'g', memberAssignment: { 'tony-allen-plays': [0] } },
    });
    const assignment = internals(instance).assignment(internals(instance).membership.assignmentId, [0]);
    const batch = payload(3);
    await internals(instance).onBatch(batch);
    await Promise.all(internals(instance).puts.inProgress);
    await sink.record(assignment, 0, 0n, 'record');
    expect(batch.commitOffsetsIfNecessary).toHaveBeenCalledTimes(1);
    // kafkajs rejoins (no REBALANCING first, as after UNKNOWN_MEMBER_ID): its JoinGroup is answered.
    listeners.get(events.REQUEST)!({ payload: { apiName: 'JoinGroup' } });
    await expect(sink.record(assignment, 0, 3n, 'late record')).rejects.toBeInstanceOf(AssignmentEnded);
    await internals(instance).commits.commit();
    expect(batch.commitOffsetsIfNecessary).toHaveBeenCalledTimes(1);
  });

  it("each join closes the partitions of the assignment before, then opens the new one's (as Kafka Connect's close and open)", async () => {
    const { instance, sink } = server();
    const { listeners, events } = await bindToStandIn(instance);
    const join = (partitions: number[]) =>
      listeners.get(events.GROUP_JOIN)!({
        payload: { groupId: 'g', memberAssignment: { 'tony-allen-plays': partitions } },
      });
    join([0, 1]);
    listeners.get(events.REBALANCING)!({ payload: {} });
    join([1]);
    expect(sink.told).toEqual(['close ', 'open 0,1', 'close 0,1', 'open 1']);
  });

  it('marks the batch that takes a partition to its end after a backlog, and only that one', async () => {
    const { instance, sink } = server();
    const play = () => JSON.stringify({ ...PLAY, timestamp: new Date().toISOString() });
    await internals(instance).onBatch(payload(2, play, 0)); // caught up from the start: no backlog
    await internals(instance).onBatch(payload(3, play, 6)); // behind
    await internals(instance).onBatch(payload(3, play, 3)); // behind
    await internals(instance).onBatch(payload(3, play, 0)); // the backlog ends
    await internals(instance).onBatch(payload(2, play, 0)); // caught up: trickling in
    await internals(instance).onBatch(payload(2, play, 5)); // a burst
    await Promise.all(internals(instance).puts.inProgress);
    expect(sink.chunks.map((chunk) => chunk.endsBacklog)).toEqual([false, false, false, true, false, false]);
    // The burst ends in a batch of dead letters only: the sink is still told, with no rows.
    await internals(instance).onBatch(payload(5, () => 'not json', 0));
    await Promise.all(internals(instance).puts.inProgress);
    expect(sink.chunks.at(-1)).toMatchObject({ endsBacklog: true, ends: new Int32Array(0) });
    expect(internals(instance).ledger.committable()).toEqual([{ partition: 0, offset: String(nextOffset) }]);
  });
});

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
    nextOffset = 0;
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
