/**
 * When the next request of deltas goes: at the earliest deadline of the deltas that wait for it. A
 * deadline may be brought forward by a delta that may wait less, never pushed back.
 */
export class SendDeadline {
  private at = Infinity;
  private timer: NodeJS.Timeout | undefined;
  private reached: (() => void) | undefined;

  /** Resolves at `at` (performance.now() time), or sooner if bringForward() moves it. */
  wait(at: number): Promise<void> {
    return new Promise((resolve) => {
      this.reached = resolve;
      this.at = Infinity;
      this.bringForward(at);
    });
  }

  /** Moves the current wait's end to `at` if that is sooner; no-op while nothing waits. */
  bringForward(at: number): void {
    if (this.reached === undefined || at >= this.at) return;
    this.at = at;
    clearTimeout(this.timer);
    const ms = at - performance.now();
    if (ms <= 0) return this.reach();
    this.timer = setTimeout(() => this.reach(), ms);
  }

  private reach(): void {
    clearTimeout(this.timer);
    const reached = this.reached;
    this.reached = undefined;
    this.at = Infinity;
    reached?.();
  }
}
