import type { AppConfig } from '../../config/config.module.js';
import type { Gauge } from '../../metrics/metrics.js';
import { rowCount, startOf, type Segment } from '../rows.js';
import type { RowChunk } from '../sink.contract.js';
import type { WriterDefaults } from '../writer.contract.js';

/** Rows not yet sent of one lane (see PlayWriter.inPartitionOrder), oldest first; the head's `from` moves as rows are taken. */
interface Lane {
  segments: Segment[];
  rows: number;
  bytes: number;
  /** Its requests under way: the in-flight limit is per lane, as BigQuery's is per connection. */
  inFlight: number;
  inFlightRows: number;
  /** A backlog ended in it (RowChunk.endsBacklog): its rows go at once, without waiting to fill a request. */
  ending: boolean;
}

/**
 * The sink's rows until they are written, by lane: one lane, or one per partition for a writer with
 * lanes, each sent in order, a request holding rows of one lane. Batches them by count, bytes and
 * linger time, keeps a bounded number of requests in flight per lane, and hands each request to
 * `write`. While a lane holds its share of SINK_MAX_BUFFERED_ROWS rows, its `put` waits, which
 * pauses consumption and bounds memory.
 */
export class LaneBuffer {
  /** Rows not yet sent, by lane; a lane is dropped when it holds nothing and has nothing under way. */
  private readonly lanes = new Map<string, Lane>();
  private bufferedRowCount = 0;
  private inFlightRequests = 0;
  private inFlightRows = 0;
  /**
   * Rows one lane may hold (buffered or being written) before its `put` waits: with a lane per
   * partition, a lane that cannot write (its partition's stream stuck) must not fill the buffer and
   * hold up every other partition's `put`.
   */
  private laneShare: number;
  private lingerTimer: NodeJS.Timeout | undefined;
  private lingerExpired = false;
  private flushing = 0;
  private waiters: (() => void)[] = [];

  constructor(
    private readonly config: Pick<AppConfig, 'SINK_MAX_BUFFERED_ROWS' | 'SINK_LINGER_MS'>,
    private readonly policy: WriterDefaults,
    /** Writes a request's rows of lane `lane`; settles once each is written or dead-lettered (or the sink stops). */
    private readonly write: (rows: Segment[], lane: string) => Promise<void>,
    private readonly bufferedRows: Gauge,
  ) {
    this.laneShare = config.SINK_MAX_BUFFERED_ROWS;
  }

  /** Rows held in memory: buffered or being written. */
  get heldRows(): number {
    return this.bufferedRowCount + this.inFlightRows;
  }

  /** Shares SINK_MAX_BUFFERED_ROWS among this many lanes. */
  shareAmong(lanes: number): void {
    this.laneShare = Math.ceil(this.config.SINK_MAX_BUFFERED_ROWS / lanes);
  }

  /** Buffers a chunk in lane `key`. Resolves once taken; waits (calling keepAlive now and then) while the lane holds its share. */
  async put(key: string, chunk: RowChunk, keepAlive?: () => Promise<void>): Promise<void> {
    const count = chunk.ends.length;
    let lane = this.lanes.get(key);
    if (count > 0) {
      if (lane === undefined)
        this.lanes.set(key, (lane = { segments: [], rows: 0, bytes: 0, inFlight: 0, inFlightRows: 0, ending: false }));
      // Each row with the separator that follows it.
      const bytes = chunk.ends[count - 1]! + 1;
      lane.segments.push({ chunk, from: 0, to: count });
      lane.rows += count;
      lane.bytes += bytes;
      this.bufferedRowCount += count;
    }
    // A chunk without rows (dead letters only) may still end the backlog of what its lane holds.
    if (chunk.endsBacklog && lane !== undefined) lane.ending = true;
    this.bufferedRows.set(this.bufferedRowCount + this.inFlightRows);
    this.dispatch();
    // Looked up again each time: a lane that emptied is dropped, and the next put makes a new one.
    while (this.heldBy(key) >= this.laneShare) {
      await this.changed(5_000);
      await keepAlive?.();
    }
  }

  /** Sends everything buffered; resolves true once all is written, false at the deadline (epoch ms). */
  async flush(deadline: number): Promise<boolean> {
    this.flushing++;
    try {
      this.dispatch();
      while (this.bufferedRowCount + this.inFlightRequests > 0) {
        const left = deadline - Date.now();
        if (left <= 0) return false;
        await this.changed(left);
      }
      return true;
    } finally {
      this.flushing--;
    }
  }

  /** The sink stops: no more waiting out the linger. */
  stop(): void {
    clearTimeout(this.lingerTimer);
  }

  /** Rows a lane holds, buffered or being written. */
  private heldBy(key: string): number {
    const lane = this.lanes.get(key);
    return lane === undefined ? 0 : lane.rows + lane.inFlightRows;
  }

  /** Starts as many requests as the batch policy and the in-flight limit allow. */
  private dispatch(): void {
    const { batchMaxRows: maxRows, batchMaxBytes: maxBytes, maxInFlight } = this.policy;
    // Due at once: the linger passed, a flush, or the buffer is full (with one lane per partition, no
    // lane may have a full request's rows while `put` waits for room).
    const due =
      this.lingerExpired ||
      this.flushing > 0 ||
      this.bufferedRowCount + this.inFlightRows >= this.config.SINK_MAX_BUFFERED_ROWS;
    // A lane's fair share: with one lane per partition, lanes that each wait for a full request would
    // fill the buffer together and then all send at once, every round trip, instead of in turn.
    let holding = 0;
    for (const lane of this.lanes.values()) if (lane.rows > 0) holding++;
    const enough = Math.min(maxRows, Math.ceil(this.config.SINK_MAX_BUFFERED_ROWS / (2 * holding)));
    for (const [key, lane] of this.lanes) {
      while (lane.rows > 0 && lane.inFlight < maxInFlight) {
        // A lane holding its share is due too: its put waits for room.
        const full = lane.rows + lane.inFlightRows >= this.laneShare;
        if (!due && !full && !lane.ending && lane.rows < enough && lane.bytes < maxBytes) break;
        this.send(key, lane, this.takeBatch(lane, maxRows, maxBytes));
      }
      if (lane.rows === 0) lane.ending = false;
      if (lane.rows === 0 && lane.inFlight === 0) this.lanes.delete(key);
    }
    if (this.bufferedRowCount === 0) {
      this.lingerExpired = false;
      clearTimeout(this.lingerTimer);
      this.lingerTimer = undefined;
    } else if (this.lingerTimer === undefined && !this.lingerExpired) {
      this.lingerTimer = setTimeout(() => {
        this.lingerTimer = undefined;
        this.lingerExpired = true;
        this.dispatch();
      }, this.config.SINK_LINGER_MS);
    }
  }

  /** A lane's oldest buffered rows, at most maxRows and (unless it is one row) maxBytes. */
  private takeBatch(lane: Lane, maxRows: number, maxBytes: number): Segment[] {
    const taken: Segment[] = [];
    let rows = 0;
    let bytes = 0;
    while (lane.segments.length > 0 && rows < maxRows) {
      const head = lane.segments[0]!;
      const { chunk, from } = head;
      const start = startOf(chunk, from);
      let to = Math.min(head.to, from + (maxRows - rows));
      if (bytes + chunk.ends[to - 1]! - start + 1 > maxBytes) {
        // Not all of it fits: take rows one by one while they do (at least one row per request).
        to = from;
        while (to < head.to && (rows + to - from === 0 || bytes + chunk.ends[to]! - start + 1 <= maxBytes)) to++;
      }
      if (to === from) break;
      taken.push({ chunk, from, to });
      rows += to - from;
      bytes += chunk.ends[to - 1]! - start + 1;
      if (to < head.to) {
        head.from = to;
        break;
      }
      lane.segments.shift();
    }
    lane.rows -= rows;
    lane.bytes -= bytes;
    this.bufferedRowCount -= rows;
    return taken;
  }

  private send(key: string, lane: Lane, batch: Segment[]): void {
    const rows = rowCount(batch);
    lane.inFlight++;
    lane.inFlightRows += rows;
    this.inFlightRequests++;
    this.inFlightRows += rows;
    void this.write(batch, key).finally(() => {
      lane.inFlight--;
      lane.inFlightRows -= rows;
      this.inFlightRequests--;
      this.inFlightRows -= rows;
      this.bufferedRows.set(this.bufferedRowCount + this.inFlightRows);
      this.dispatch();
      this.wake();
    });
  }

  /** Resolves at the next change of the buffer, or after `timeoutMs`. */
  private changed(timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      this.waiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }
}
