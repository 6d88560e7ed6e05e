import { Inject, Injectable } from '@nestjs/common';
import { HealthIndicatorService, type HealthIndicatorResult } from '@nestjs/terminus';
import { AppConfig } from '../config/config.module.js';
import { DeadLetters } from '../dead-letters/dead-letters.service.js';
import { PlaysServer } from '../ingest/plays-server.js';
import { PLAY_SINK, type PlaySink } from '../sink/play-sink.js';
import { PlayTable } from '../sink/play-table.js';

/** No completed fetch for this long means the broker is out of reach. */
export const FETCH_STALE_MS = 10_000;

/**
 * Readiness of the ingest, from the state its own parts keep (consumer events, table check, write
 * outcomes): no probe opens a connection of its own.
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
    if (cannotStart !== null) return check.down({ reason: cannotStart.text, kind: cannotStart.kind });
    if (crashed !== null) return check.down({ reason: `consumer crashed: ${crashed}` });
    if (!joined) return check.down({ reason: 'not in the consumer group (joining, rebalancing or disconnected)' });
    if (lastFetchAt === null || now - lastFetchAt > FETCH_STALE_MS) {
      return check.down({ reason: `no fetch from the broker for more than ${FETCH_STALE_MS / 1000}s` });
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
    return status === 'ready' ? check.up() : check.down({ reason: detail });
  }

  private bigQueryWrites(now: number): HealthIndicatorResult {
    const check = this.indicators.check('bigquery_writes');
    const { failingSince, lastError, bufferedRows, writable, detail } = this.sink.health;
    // A fault that retrying cannot fix (a permission, a missing table) is said at once, not after the threshold.
    if (!writable && this.table.health.status === 'ready') return check.down({ reason: detail, bufferedRows });
    if (failingSince !== null && now - failingSince > this.config.READINESS_WRITE_FAILURE_MS) {
      return check.down({
        reason: `writes failing for ${Math.round((now - failingSince) / 1000)}s: ${lastError}`,
        bufferedRows,
      });
    }
    return check.up({ bufferedRows });
  }

  private deadLetterProducer(): HealthIndicatorResult {
    const check = this.indicators.check('dead_letter_producer');
    const { connected, failingSince, queued, queuedBytes, problem } = this.deadLetters.health;
    if (!connected) return check.down({ reason: 'dead-letter producer not connected', queued, queuedBytes });
    if (failingSince !== null) {
      return check.down({ reason: `dead-letter writes failing: ${problem ?? 'unknown'}`, queued, queuedBytes });
    }
    return check.up({ queued, queuedBytes });
  }
}
