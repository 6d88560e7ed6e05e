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
