import type { Logger } from '@nestjs/common';

/**
 * The log of one thing that keeps failing and is retried (a write, a produce, a commit): a line when
 * the failures start, one every tenth failure, one when the reason changes, and one when it works
 * again, never one per retry. A permanent fault's first line is an error naming what to change.
 */
export class OutageLog {
  private since: number | null = null;
  private failures = 0;
  private reason: string | null = null;

  constructor(
    private readonly logger: Logger,
    private readonly what: string,
  ) {}

  /** When the failures started (epoch ms), or null while it works. */
  get failingSince(): number | null {
    return this.since;
  }

  /** One failed attempt. `reason` groups failures (a new reason is logged at once); `fix` marks it permanent. */
  failed(text: string, reason: string, fix?: string): void {
    this.failures++;
    const first = this.since === null;
    this.since ??= Date.now();
    const changed = reason !== this.reason;
    this.reason = reason;
    if (fix !== undefined && (first || changed)) {
      this.logger.error(`${this.what} failed: ${text}. It cannot succeed until this is changed: ${fix}`);
    } else if (first || changed) {
      this.logger.warn(`${this.what} failed: ${text}; retrying with backoff`);
    } else if (this.failures % 10 === 0) {
      this.logger.warn(`${this.what} still failing after ${this.failures} attempts in ${this.seconds()} s: ${text}`);
    }
  }

  succeeded(): void {
    if (this.since === null) return;
    this.logger.log(`${this.what} works again after ${this.failures} failed attempts in ${this.seconds()} s`);
    this.since = null;
    this.failures = 0;
    this.reason = null;
  }

  private seconds(): number {
    return Math.round((Date.now() - (this.since ?? Date.now())) / 1000);
  }
}
