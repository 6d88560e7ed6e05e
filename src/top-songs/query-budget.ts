/** A BigQuery query would have to wait longer than the budget allows: answer 429 with Retry-After. */
export class QueryBudgetExceeded extends Error {
  constructor(readonly retryAfterSeconds: number) {
    super(
      `too many distinct questions at once: the service runs at most its query budget; retry in ${retryAfterSeconds} s`,
    );
  }
}

/**
 * The service-wide ceiling on BigQuery queries a second: a token bucket of `perSecond` tokens, refilled
 * at `perSecond`. A query takes a token, or reserves the next one and waits for it, in order of asking;
 * when that wait would exceed `maxWaitMs`, it is refused at once (and reserves nothing). So however many
 * distinct questions arrive, BigQuery sees at most `perSecond` queries a second, after a burst of as many.
 */
export class QueryBudget {
  /** Tokens left; below zero, the reservations of waiting queries. */
  private tokens: number;
  private refilledAt: number;

  constructor(
    private readonly perSecond: number,
    private readonly maxWaitMs: number,
    private readonly now: () => number = Date.now,
  ) {
    this.tokens = perSecond;
    this.refilledAt = now();
  }

  /**
   * Reserves a query's turn: the milliseconds to wait before running it (0: now). Throws
   * QueryBudgetExceeded, synchronously, when the wait would be longer than allowed.
   */
  reserve(): number {
    const now = this.now();
    this.tokens = Math.min(this.perSecond, this.tokens + ((now - this.refilledAt) / 1_000) * this.perSecond);
    this.refilledAt = now;
    const waitMs = this.tokens >= 1 ? 0 : Math.ceil(((1 - this.tokens) / this.perSecond) * 1_000);
    if (waitMs > this.maxWaitMs)
      throw new QueryBudgetExceeded(Math.max(1, Math.ceil((waitMs - this.maxWaitMs) / 1_000)));
    this.tokens -= 1;
    return waitMs;
  }
}
