import type { Logger } from '@nestjs/common';
import type { Counter } from '../../../metrics/metrics.js';
import type { BackoffPolicy } from '../../../retry/backoff.js';
import type { WriteReporter } from '../../writer.contract.js';
import type { BigQueryWriteClient } from '../client-parts.js';

/** What the writer shares with each partition's lane. */
export interface LaneContext {
  client: BigQueryWriteClient;
  /** projects/P/datasets/D/tables/T */
  table: string;
  /** How a lane waits before trying again what failed. */
  retry: BackoffPolicy;
  logger: Logger;
  /** Stretches written again at-least-once (exactly_once_fallbacks_total). */
  fallbacks: Counter;
  reporter(): WriteReporter;
  /**
   * Has the consumer commit `metadata` at `offset` for a partition, in its one commit path (see
   * PlaySink.preCommit); resolves once it landed, rejects with AssignmentEnded once the assignment is over.
   */
  commit(partition: number, offset: bigint, metadata: string): Promise<void>;
}
