import { Inject, Injectable } from '@nestjs/common';
import { HealthIndicatorService, type HealthIndicatorResult } from '@nestjs/terminus';
import { AppConfig } from '../config/config.module.js';
import { DeadLetters } from '../dead-letters/dead-letters.service.js';
import { PlaysServer } from '../consumer/plays-server.js';
import type { PlaySink } from '../sink/sink.contract.js';
import { PLAY_SINK } from '../sink/sink.tokens.js';
import { PlayTable } from '../sink/play-table.js';

/** No completed fetch for this long means the broker is out of reach. */
export const FETCH_STALE_MS = 10_000;

/**
 * Readiness of the ingest, from the state its own parts keep (consumer events, table check, write
 * outcomes): no probe opens a connection of its own. Anyone who reaches the port can read it, so each
 * reason is a category in our own words: never a broker's address nor Kafka's or BigQuery's error
 * text, which the parts write to the log when the fault starts.
 */
@Injectable()
export class IngestReadiness {
  constructor(
    private readonly config: AppConfig,
    private readonly indicators: HealthIndicatorService,
    private readonly consumer: PlaysServer,
    private readonly table: PlayTable,
    @Inject(PLAY_SINK) private readonly sink: PlaySink,
    private readonly deadLetters: DeadLetters,
  ) {}

  checks(now = Date.now()): (() => HealthIndicatorResult)[] {
    return [
      () => this.kafkaConsumer(now),
      () => this.bigQueryTable(),
      () => this.bigQueryWrites(now),
      () => this.deadLetterProducer(),
    ];
  }

  private kafkaConsumer(now: number): HealthIndicatorResult {
    const check = this.indicators.check('kafka_consumer');
    const { joined, crashed, cannotStart, lastFetchAt, assigned, stalled, held, heldBytes, budgetBytes } =
      this.consumer.health;
    if (cannotStart !== null) return check.down({ reason: cannotStart.summary, kind: cannotStart.kind });
    if (crashed !== null) return check.down({ reason: 'kafka consumer crashed (the log says why)' });
    if (!joined) return check.down({ reason: 'not in the consumer group (joining, rebalancing or disconnected)' });
    if (lastFetchAt === null || now - lastFetchAt > FETCH_STALE_MS) {
      return check.down({
        reason: `kafka unreachable: no fetch from the broker for more than ${FETCH_STALE_MS / 1000}s`,
      });
    }
    // A partition held for the sink (its writes do not go through) is down only after a write
    // failure would be: a short BigQuery blip is retried quietly.
    const down = held.filter(
      (h) => h.cause === 'uncommitted' || now - Date.parse(h.since) > this.config.READINESS_WRITE_FAILURE_MS,
    );
    if (stalled.length > 0 || down.length > 0) {
      const reasons = down.map((h) => `${h.reason}: no more are taken from it until it moves on`);
      if (stalled.length > 0) {
        reasons.push(
          `partition(s) ${stalled.map((s) => s.partition).join(', ')} stalled: lag, and no commit for more than ${this.config.INGEST_STALL_TIMEOUT_MS / 1000}s`,
        );
      }
      return check.down({ reason: reasons.join('; '), stalled, held, partitions: assigned, heldBytes, budgetBytes });
    }
    return check.up({ partitions: assigned, heldBytes, budgetBytes });
  }

  private bigQueryTable(): HealthIndicatorResult {
    const check = this.indicators.check('bigquery_table');
    const { status, detail } = this.table.health;
    switch (status) {
      case 'ready':
        return check.up();
      // The schema's problems, in our words (missing or mistyped columns).
      case 'incompatible':
        return check.down({ reason: detail });
      case 'unreachable':
        return check.down({ reason: 'bigquery unreachable: cannot check the table (the log says why)' });
      case 'checking':
        return check.down({ reason: 'bigquery table not checked yet' });
    }
  }

  private bigQueryWrites(now: number): HealthIndicatorResult {
    const check = this.indicators.check('bigquery_writes');
    const { failingSince, bufferedRows, writable } = this.sink.health;
    // A fault that retrying cannot fix (a permission, a missing table) is said at once, not after the threshold.
    if (!writable && this.table.health.status === 'ready') {
      return check.down({
        reason:
          'bigquery write failing: refused until a setting, permission or the table is fixed (the log says which)',
        bufferedRows,
      });
    }
    if (failingSince !== null && now - failingSince > this.config.READINESS_WRITE_FAILURE_MS) {
      return check.down({
        reason: `bigquery writes failing for ${Math.round((now - failingSince) / 1000)}s (the log says why)`,
        bufferedRows,
      });
    }
    return check.up({ bufferedRows });
  }

  private deadLetterProducer(): HealthIndicatorResult {
    const check = this.indicators.check('dead_letter_producer');
    const { connected, failingSince, queued, queuedBytes, summary } = this.deadLetters.health;
    if (!connected) return check.down({ reason: 'dead-letter producer not connected', queued, queuedBytes });
    if (failingSince !== null) {
      return check.down({ reason: `dead-letter writes failing: ${summary ?? 'unknown'}`, queued, queuedBytes });
    }
    return check.up({ queued, queuedBytes });
  }
}
