import { setTimeout as wait } from 'node:timers/promises';

/** How a retry loop waits: `minMs` doubled per attempt up to `maxMs`, jittered. Every loop's own numbers. */
export interface BackoffPolicy {
  readonly minMs: number;
  readonly maxMs: number;
}

/**
 * The wait before retry number `attempt` (0 for the first retry): a random 50–100 % of the capped
 * exponential delay (equal jitter), so replicas that failed together do not retry together, and no
 * wait is longer than the cap.
 */
export function backoffDelay(attempt: number, policy: BackoffPolicy): number {
  const delay = Math.min(policy.maxMs, policy.minMs * 2 ** Math.min(Math.max(attempt, 0), 30));
  return delay * (0.5 + Math.random() / 2);
}

export const sleep = (ms: number): Promise<void> => wait(ms);

export interface RetryOptions {
  policy: BackoffPolicy;
  /** Stops the loop, and a wait at once: `retry` rejects with the abort. */
  signal?: AbortSignal;
  /** False for an error that no retry mends: `retry` rejects with it. Every error is retried otherwise. */
  retryable?: (error: unknown) => boolean;
  /** After each failure that is retried: its attempt (counted from 1) and the wait before the next. */
  failed?: (error: unknown, attempt: number, delayMs: number) => void;
}

/** Runs `attempt` until it resolves, waiting `backoffDelay` after each failure. */
export async function retry<T>(attempt: (n: number) => Promise<T>, options: RetryOptions): Promise<T> {
  const { policy, signal, retryable, failed } = options;
  for (let n = 1; ; n++) {
    signal?.throwIfAborted();
    try {
      return await attempt(n);
    } catch (error) {
      // Stopped meanwhile: the failure is the stop's, not the attempt's.
      signal?.throwIfAborted();
      if (retryable?.(error) === false) throw error;
      const delayMs = backoffDelay(n - 1, policy);
      failed?.(error, n, delayMs);
      await wait(delayMs, undefined, { signal });
    }
  }
}
