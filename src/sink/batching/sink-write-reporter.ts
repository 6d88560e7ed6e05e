import type { Logger } from '@nestjs/common';
import type { DeadLetters } from '../../dead-letters/dead-letters.service.js';
import type { Counter } from '../../metrics/metrics.js';
import type { PlayTable } from '../play-table.js';
import type { RefusedRow, SinkApi, WriteFault, WriteReporter } from '../writer.contract.js';
import { rowLetter } from './row-letter.js';

/**
 * How failures (and the end of them) show: health, metrics and logs, whichever retry loop meets them
 * (the sink's RequestLoop, or a writer that retries on its own).
 */
export class SinkWriteReporter implements WriteReporter {
  /** Since when writes have been failing (epoch ms), or null. */
  failingSince: number | null = null;
  /** A configuration error (a `stop` fault) while it lasts: the sink cannot write until it is fixed. */
  configError: string | null = null;

  constructor(
    private readonly api: SinkApi,
    private readonly table: Pick<PlayTable, 'id'>,
    private readonly deadLetters: Pick<DeadLetters, 'put'>,
    private readonly retries: Counter,
    private readonly logger: Logger,
  ) {}

  failed(fault: WriteFault, rows: number, attempt: number, retryInMs: number): void {
    this.retries.inc();
    this.failingSince ??= Date.now();
    if (fault.action === 'stop') {
      const report = `${this.api} cannot write to ${this.table.id}: ${fault.message}. Fix it; checking again, nothing is lost meanwhile`;
      if (this.configError !== report) this.logger.error(report);
      this.configError = report;
      return;
    }
    if (attempt === 1 || attempt % 10 === 0) {
      this.logger.warn(
        `${this.api} write of ${rows} rows failed (attempt ${attempt}): ${fault.message}; retrying in ${Math.round(retryInMs)} ms`,
      );
    }
  }

  /** Dead-letters rows a writer refused and counts each done once its letter is in the topic; resolves with the last. */
  refused(rows: readonly RefusedRow[]): Promise<void> {
    return new Promise<void>((resolve) => {
      let left = rows.length;
      if (left === 0) return resolve();
      this.deadLetters.put(
        rows.map(({ chunk, row, reason, detail }) =>
          rowLetter(chunk, row, reason, detail, () => {
            chunk.done(1);
            if (--left === 0) resolve();
          }),
        ),
      );
    });
  }

  succeeded(): void {
    if (this.failingSince === null) return;
    this.logger.log(
      `${this.api} works again after ${Math.round((Date.now() - this.failingSince) / 1000)} s of failures`,
    );
    this.failingSince = null;
    this.configError = null;
  }
}
