import { encodeStreamRecord, type StreamRecord } from './stream-record.js';

/** The stream's state after all rows of the messages before `next`: what a commit at `next` records. */
interface Checkpoint extends StreamRecord {
  next: bigint;
  /** Plays refused (and dead-lettered) by the lane when the checkpoint was taken. */
  refusedAt: number;
}

/**
 * A lane's commit points, one per chunk handled past the group's commit point: what the metadata of
 * a commit at each of them records (StreamRecord). Rows BigQuery refused are not rows of the stream:
 * the plays refused since a checkpoint was taken count as carried in its record.
 */
export class StreamCheckpoints {
  private checkpoints: Checkpoint[] = [];
  /** Plays refused by BigQuery and dead-lettered, in this lane. */
  private refused = 0;

  get length(): number {
    return this.checkpoints.length;
  }

  /** Only the checkpoint of a stream just recorded at `next`, with `carried` plays still to skip. */
  startAt(stream: string, next: bigint, carried: number): void {
    this.checkpoints = [];
    this.take(stream, next, 0, carried);
  }

  take(stream: string, next: bigint, rows: number, carried: number): void {
    this.checkpoints.push({ stream, rows, carried, next, refusedAt: this.refused });
  }

  /** The record for a commit at `offset`, or undefined while no checkpoint is at or before it. */
  recordAt(offset: bigint): string | undefined {
    let at = -1;
    for (let i = 0; i < this.checkpoints.length && this.checkpoints[i]!.next <= offset; i++) at = i;
    if (at < 0) return undefined;
    // Commits only move forward: older checkpoints are not needed again.
    if (at > 0) this.checkpoints.splice(0, at);
    return encodeStreamRecord(this.recordOf(this.checkpoints[0]!));
  }

  /** The oldest checkpoint kept, and its record: where the lane records one of its own. */
  oldest(): { next: bigint; record: StreamRecord } {
    const at = this.checkpoints[0]!;
    return { next: at.next, record: this.recordOf(at) };
  }

  /** `plays` more refused by BigQuery and dead-lettered. */
  countRefused(plays: number): void {
    this.refused += plays;
  }

  /**
   * The stream is replaced by `stream` after the old one held `held` rows: each checkpoint is counted
   * again in the new one, its rows of the old stream after it becoming plays carried.
   */
  moveTo(stream: string, held: number): void {
    this.checkpoints = this.checkpoints.map((at) => {
      const { rows, carried } = this.recordOf(at);
      return { stream, rows: 0, carried: carried + held - rows, next: at.next, refusedAt: this.refused };
    });
  }

  /** A checkpoint's record, counting the plays refused and dead-lettered since it was taken. */
  private recordOf({ stream, rows, carried, refusedAt }: Checkpoint): StreamRecord {
    return { stream, rows, carried: carried + this.refused - refusedAt };
  }
}
