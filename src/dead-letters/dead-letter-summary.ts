import type { Logger } from '@nestjs/common';
import type { DeadLetter } from './dead-letters.service.js';

/** Dead letters are summarised in the log at most this often, never one line each. */
const SUMMARY_INTERVAL_MS = 60_000;

/** Counts the letters written per reason and logs them as one line, at most once a minute. */
export class DeadLetterSummary {
  private counts = new Map<DeadLetter['reason'], number>();
  private loggedAt = 0;

  constructor(
    private readonly logger: Logger,
    private readonly topicName: string,
  ) {}

  written(reason: DeadLetter['reason']): void {
    this.counts.set(reason, (this.counts.get(reason) ?? 0) + 1);
  }

  /** Logs the counts since the last line, if a minute has passed since (or `force`, at shutdown). */
  log(force = false): void {
    if (this.counts.size === 0 || (!force && Date.now() - this.loggedAt < SUMMARY_INTERVAL_MS)) return;
    const counts = [...this.counts].map(([reason, count]) => `${reason}: ${count}`).join(', ');
    const total = [...this.counts.values()].reduce((sum, count) => sum + count, 0);
    this.logger.warn(`dead-lettered ${total} message(s) to ${this.topicName} (${counts})`);
    this.counts = new Map();
    this.loggedAt = Date.now();
  }
}
