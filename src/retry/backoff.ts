/** How a retry loop waits: `minMs` doubled per attempt up to `maxMs`, optionally jittered. */
export interface BackoffPolicy {
  readonly minMs: number;
  readonly maxMs: number;
  /** Wait a random 50–100 % of the delay, so replicas that failed together do not retry together. */
  readonly jitter?: boolean;
}

/** The wait before retry number `attempt` (0 for the first retry). */
export function backoffDelay(attempt: number, policy: BackoffPolicy): number {
  const delay = Math.min(policy.maxMs, policy.minMs * 2 ** Math.min(Math.max(attempt, 0), 30));
  return policy.jitter ? delay * (0.5 + Math.random() / 2) : delay;
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
