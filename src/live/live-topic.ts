import kafkajs from 'kafkajs';
import type { AppConfig } from '../config/config.module.js';

/**
 * Deltas are kept this long past the horizon, and a starting replica reads from this far before it:
 * a play's delta is published after the play happened, so the deltas of the horizon's first minutes
 * may be up to this much older than those minutes.
 */
export const RETENTION_PAST_HORIZON_MS = 3_600_000;

/** The live view's topic: LIVE_TOPIC, or the plays topic with `.live` appended. */
export const liveTopicOf = (config: Pick<AppConfig, 'LIVE_TOPIC' | 'KAFKA_TOPIC'>): string =>
  config.LIVE_TOPIC ?? `${config.KAFKA_TOPIC}.live`;

const partitioner = kafkajs.Partitioners.DefaultPartitioner();

/**
 * The live topic's partition a source partition's deltas go to: kafkajs' default partitioner of the
 * key String(sourcePartition) (murmur2, as Java's), which the service used before it named the
 * partition itself, so deltas of one source partition stay in one live partition across versions.
 */
export function livePartitionOf(sourcePartition: number, liveCount: number): number {
  const partitionMetadata = Array.from({ length: liveCount }, (_, partitionId) => ({
    partitionId,
    leader: 0,
    replicas: [0],
    isr: [0],
    partitionErrorCode: 0,
  }));
  return partitioner({ topic: '', partitionMetadata, message: { key: String(sourcePartition), value: null } });
}
