import type { Logger } from '@nestjs/common';
import type { LaneItem } from './lane-item.js';

/** Takes the checkpoint after a chunk whose plays up to its end are skipped, `carried` still to skip. */
type SkipCheckpoint = (next: bigint, carried: number) => void;

/**
 * The plays at the head of a lane that earlier owners of the partition already handled: rows of
 * messages before the assignment's start, and the first valid plays from it that the previous
 * owner's stream holds. They are done without being appended.
 */
export class AlreadyHandledPlays {
  /** Rows from messages before `start` may still come (kafkajs fetched from an older committed offset). */
  private beforeStart = true;

  constructor(
    /** The assignment's start: messages before it were handled by earlier owners. */
    private readonly start: bigint,
    /** Valid plays still to skip: already handled by earlier streams. */
    private skip: number,
    private readonly partition: number,
    private readonly logger: Logger,
  ) {}

  /** Drops the item's rows already handled. True if the whole item was (it is done). */
  passOver(item: LaneItem, checkpoint: SkipCheckpoint): boolean {
    if (this.beforeStart && this.passBeforeStart(item)) return true;
    return this.skip > 0 && this.skipRows(item, checkpoint);
  }

  /** Marks the plays to skip handled. True if the whole item was skipped. */
  private skipRows(item: LaneItem, checkpoint: SkipCheckpoint): boolean {
    const count = Math.min(this.skip, item.serialized.length);
    const lastSkipped = item.index[count - 1]!;
    for (const { index, next } of item.chunkEnds) {
      if (index > lastSkipped) break;
      checkpoint(next, this.skip - (item.index.indexOf(index) + 1));
    }
    item.serialized.splice(0, count);
    item.index.splice(0, count);
    item.chunkEnds = item.chunkEnds.filter(({ index }) => index > lastSkipped);
    this.skip -= count;
    return item.serialized.length === 0;
  }

  /**
   * Drops the rows of messages before the assignment's start. kafkajs fetches from the committed
   * offset it read when the group formed; if a commit landed after that read (one sent before the
   * rebalance), the start read later is past it, and the record counts from there: those messages
   * are handled already, and appending them would write them twice. True if the whole item was.
   */
  private passBeforeStart(item: LaneItem): boolean {
    const before = new Set<number>();
    let index = 0;
    for (const { chunk, from, to } of item.request.rows) {
      if (!this.beforeStart) break;
      if (chunk.lastOffset < this.start) {
        for (let row = from; row < to; row++) before.add(index++);
        continue;
      }
      for (let row = from; row < to; row++, index++) {
        if (BigInt(chunk.source(row).offset) >= this.start) {
          this.beforeStart = false;
          break;
        }
        before.add(index);
      }
    }
    if (before.size === 0) return false;
    const kept = item.index.map((index) => !before.has(index));
    item.serialized = item.serialized.filter((_, i) => kept[i]);
    item.index = item.index.filter((_, i) => kept[i]);
    item.chunkEnds = item.chunkEnds.filter(({ index }) => !before.has(index));
    this.logger.warn(
      `partition ${this.partition}: ${before.size} plays before the start offset ${this.start} were fetched again; passed over (already handled)`,
    );
    return item.serialized.length === 0;
  }
}
