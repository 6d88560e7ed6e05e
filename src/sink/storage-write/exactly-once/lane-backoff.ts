import { errorText } from '../../../errors.js';
import { backoffDelay } from '../../../retry/backoff.js';
import { grpcCodeOf, storageWriteAction } from '../storage-write-faults.js';
import { WriteFault } from '../../writer.contract.js';
import type { LaneContext } from './lane-context.js';

/**
 * A lane's waits before trying again: its retry loops' pauses and the timer that resends after a
 * failed append. One timer at a time; cancelling it (the lane closing) ends a pause at once.
 */
export class LaneBackoff {
  private timer: NodeJS.Timeout | undefined;
  private wake: (() => void) | null = null;

  constructor(private readonly context: LaneContext) {}

  /** The wait before retry number `attempt` (counted from 1). */
  delayOf(attempt: number): number {
    return backoffDelay(attempt - 1, this.context.retry);
  }

  /** Reports the failure, then waits before attempt `attempt + 1` (cut short by `cancel`). */
  async pause(attempt: number, message: string, error: unknown): Promise<void> {
    const delayMs = this.delayOf(attempt);
    const action = storageWriteAction(grpcCodeOf(error), errorText(error));
    this.context.reporter().failed(new WriteFault(message, action === 'stop' ? 'stop' : 'retry'), 0, attempt, delayMs);
    await new Promise<void>((resolve) => {
      this.wake = resolve;
      this.timer = setTimeout(resolve, delayMs);
    });
    this.wake = null;
  }

  /** Runs `then` after `delayMs`, instead of what the timer was set to run. */
  after(delayMs: number, then: () => void): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(then, delayMs);
  }

  /** Stops the timer; a pause ends now. */
  cancel(): void {
    clearTimeout(this.timer);
    this.wake?.();
  }
}
