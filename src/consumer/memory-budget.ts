/**
 * One budget for everything the service holds on behalf of messages it has taken and not yet
 * committed: batches being decoded, rows buffered or being written, dead letters queued. The consumer
 * charges a batch when it takes it and the charge is returned when the batch's last message is written
 * or dead-lettered; while the budget is spent, the consumer takes nothing more (it keeps heartbeating,
 * so it stays in the group). A batch larger than the whole budget is still taken when nothing is held,
 * so one big batch can never block consumption for good.
 */
export class MemoryBudget {
  private held = 0;
  private waiters: (() => void)[] = [];

  constructor(readonly limitBytes: number) {}

  get heldBytes(): number {
    return this.held;
  }

  /** Whether a batch of `bytes` may be taken now. */
  hasRoomFor(bytes: number): boolean {
    return this.held === 0 || this.held + bytes <= this.limitBytes;
  }

  /** Charges `bytes`; returns the call that gives them back (once; later calls do nothing). */
  charge(bytes: number): () => void {
    this.held += bytes;
    let returned = false;
    return () => {
      if (returned) return;
      returned = true;
      this.held -= bytes;
      const waiters = this.waiters;
      this.waiters = [];
      for (const wake of waiters) wake();
    };
  }

  /** Resolves when some of the budget is given back, or after `timeoutMs`. */
  released(timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      this.waiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}

/**
 * What a batch costs while it is held: its bytes kept for dead letters, its rows as encoded, and the
 * bookkeeping per message. An estimate, on the safe side: rows are about as large as the values they
 * come from.
 */
export function batchCost(valueBytes: number, messages: number): number {
  return 2 * valueBytes + 128 * messages;
}
