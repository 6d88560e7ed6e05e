import { backoffDelay, type BackoffPolicy } from '../retry/backoff.js';
import { describeKafkaError } from './kafka-errors.js';

const START_RETRY: BackoffPolicy = { minMs: 1_000, maxMs: 30_000 };

/**
 * How a Kafka client retries its start-up (a broker down, or refusing us: wrong password, untrusted
 * certificate): waits doubling from 1 s to 30 s (the shared backoff), and one log line per reason, again every tenth try,
 * so a refusal that lasts is neither silent nor a flood.
 */
export class KafkaStartRetry {
  private attempts = 0;
  private logged: string | null = null;

  constructor(private readonly brokers: readonly string[]) {}

  /** After a failed try: the reason to log (null when it was said already) and how long to wait. */
  failed(error: unknown): { log: string | null; attempt: number; delayMs: number } {
    const attempt = this.attempts++;
    const { text } = describeKafkaError(error, this.brokers);
    const log = text !== this.logged || attempt % 10 === 0 ? text : null;
    this.logged = text;
    return { log, attempt: attempt + 1, delayMs: backoffDelay(attempt, START_RETRY) };
  }
}
