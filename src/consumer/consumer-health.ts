import type { KafkaFailure } from '../kafka/kafka-errors.js';

/** A partition whose commit point has not moved for INGEST_STALL_TIMEOUT_MS while it has lag. */
export interface StalledPartition {
  partition: number;
  /** Since when its commit point has not moved (ISO-8601). */
  since: string;
  /** Messages taken and not yet written or dead-lettered. */
  pending: number;
}

/**
 * A partition this member takes no more from, until its commit point moves: it holds
 * INGEST_PARTITION_MAX_UNCOMMITTED messages past it, or its rows do not go into the sink.
 */
export interface HeldPartition {
  partition: number;
  /** Its uncommitted span reached the limit, or its rows have waited STUCK_PUT_MS for the sink. */
  cause: HoldCause;
  /** Why, for a person. */
  reason: string;
  /** Messages taken past the commit point, finished or not. */
  uncommitted: number;
  /** The first of them, which is not yet written or dead-lettered. */
  from: string;
  /** Since when (ISO-8601). */
  since: string;
}

export type HoldCause = 'uncommitted' | 'sink';

/** What the consumer is doing, for readiness and metrics. */
export interface ConsumerHealth {
  /** In the group (joined, not rebalancing or disconnected). */
  joined: boolean;
  /** The error it crashed with, until it rejoins. */
  crashed: string | null;
  /** Why it could not connect (e.g. authentication, TLS), until it does; main.ts keeps retrying. */
  cannotStart: KafkaFailure | null;
  /** When it last completed a fetch from the broker (epoch ms), or null. */
  lastFetchAt: number | null;
  assigned: number[];
  /** Partitions whose commit point is stuck while they have lag. */
  stalled: StalledPartition[];
  /** Partitions not taken from until their commit point moves. */
  held: HeldPartition[];
  /** Bytes held for messages taken and not yet committed, and the budget. */
  heldBytes: number;
  budgetBytes: number;
}
