import type { BenchContext } from './bench-context.js';
import { median } from './median.js';
import { DEFAULT_SINK } from './sinks.js';

/**
 * The live view's cost on the default sink's drain (issue 23's bar), from drains of the same topic with
 * it off and on back to back, pair after pair, each pair's first in turn. Read as the ratio of their
 * mean drain times: on this small shared machine a drain's rate drifts by tens of percent within a run,
 * so a median of three rates moves by more than the cost measured; alternating pairs cancel a steady
 * drift, and the mean of many drains' times is steadier.
 */
export class LiveCost {
  /** Rates with the live view off and on, pair by pair (plays/s). */
  readonly off: number[] = [];
  readonly on: number[] = [];

  /**
   * Drains the default sink with the live view off and on, `onFirst` saying which goes first. Each
   * drain with it on publishes to a live topic of its own: in a shared one, every later drain's replica
   * would first read back every earlier drain's deltas (a start-up's rebuild, which grows with the run,
   * not the cost of counting a drain).
   */
  async pair({ service, standIns, plays }: BenchContext, topic: string, onFirst: boolean): Promise<void> {
    const liveTopic = `${topic}.live-${this.pairs + 1}`;
    const drain = async (live: boolean) =>
      (
        await service.drainWith(
          topic,
          DEFAULT_SINK,
          standIns.instant,
          plays,
          live ? { LIVE_ENABLED: 'true', LIVE_TOPIC: liveTopic } : { LIVE_ENABLED: 'false' },
        )
      ).rate;
    const [first, second] = [await drain(onFirst), await drain(!onFirst)];
    this.on.push(onFirst ? first : second);
    this.off.push(onFirst ? second : first);
  }

  get pairs(): number {
    return this.on.length;
  }

  /** Each pair's on / off. */
  get perPair(): number[] {
    return this.on.map((rate, i) => rate / this.off[i]!);
  }

  /** The rate with the live view on against off: the off drains' mean time over the on drains'. */
  get ratio(): number {
    const meanTime = (rates: number[]) => rates.reduce((sum, rate) => sum + 1 / rate, 0) / rates.length;
    return meanTime(this.off) / meanTime(this.on);
  }

  /** The standard error of the per-pair ratios' mean: how far the ratio may be off by chance. */
  get standardError(): number {
    const ratios = this.perPair;
    const mean = ratios.reduce((sum, r) => sum + r, 0) / ratios.length;
    const variance = ratios.reduce((sum, r) => sum + (r - mean) ** 2, 0) / Math.max(1, ratios.length - 1);
    return Math.sqrt(variance / ratios.length);
  }

  /** One line for the log and the report: the ratio, its standard error and the pairs. */
  summary(): string {
    return (
      `${this.ratio.toFixed(3)} (se ${this.standardError.toFixed(3)}; ${this.pairs} pairs: ` +
      `${this.perPair.map((r) => r.toFixed(2)).join(', ')}; median rates on ${median(this.on).toFixed(0)}, off ${median(this.off).toFixed(0)} plays/s)`
    );
  }
}
