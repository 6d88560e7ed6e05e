import { Counter, Gauge } from 'prom-client';
import { parseEnv } from '../config/parse-env.js';
import type { DeadLetter, DeadLetters } from '../dead-letters/dead-letters.service.js';
import type { Assignment, OffsetCommit, PlaySink, RowChunk } from '../sink/sink.contract.js';
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

// What the PlaysServer specs (plays-server.*.spec.ts) run on; the service never loads it: a server
// with a fake sink, decoder, dead letters and live view around it, and kafkajs batch payloads.

export const PLAY = {
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
export function server(
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
    owns: () => {},
  } as unknown as LiveDeltas;
  const release = () => publishing.splice(0).forEach((publish) => publish());
  const instance = new PlaysServer(
    config,
    sink,
    (parts.deadLetters as DeadLetters | undefined) ?? deadLetters,
    decoder,
    // A replaced publisher is told of nothing else (the membership's changes go to owns()).
    parts.liveDeltas === undefined ? liveDeltas : ({ owns: () => {}, ...parts.liveDeltas } as unknown as LiveDeltas),
    new Counter({ name: 'consumed', help: 'c', registers: [] }),
    gauge('lag', ['topic', 'partition']),
    stalled,
    gauge('held'),
  );
  // As after a join that assigned partition 0.
  Object.assign(internals(instance).membership, { owned: new Set([0]), joined: true });
  return { instance, sink, letters, config, stalled, published, release };
}

export const encoding = createRowEncoding();
/** The offset of `payload`'s next message; `resetOffsets` starts it again at 0. */
export let nextOffset = 0;
export const resetOffsets = () => void (nextOffset = 0);
/**
 * A kafkajs eachBatch payload of `count` messages of partition 0 (plays, or `value` for each), with
 * `behind` more messages in the partition after it.
 */
export function payload(
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
export const internals = (s: PlaysServer) => s as unknown as Internals;
