import type { BenchContext } from './bench-context.js';
import { median } from './median.js';
import { say } from './say.js';
import { DEFAULT_SINK, EO, inTurn, perSink, SINKS, SW, type Sink } from './sinks.js';

/** --only drains: B's drains alone, each sink instant and at the round trip, --repeat times, alternated. */
export async function runDrainsOnly({ topics, service, standIns, plays, repeat, roundTripMs }: BenchContext) {
  const topic = await topics.fresh();
  await topics.preload(topic, plays);
  const instantRates = perSink<number[]>(() => []);
  const atRoundTrip = perSink<number[]>(() => []);
  // Not counted: the first drain of a new topic meets a cold broker (the full run's A takes that turn).
  await service.drainWith(topic, DEFAULT_SINK, standIns.instant);
  for (let i = 0; i < repeat; i++) {
    for (const sink of inTurn(i)) {
      instantRates[sink].push((await service.drainWith(topic, sink, standIns.instant)).rate);
      atRoundTrip[sink].push((await service.drainWith(topic, sink, standIns.slow)).rate);
    }
    say(
      `round ${i + 1}: ` +
        SINKS.map(
          (sink) =>
            `B ${sink} ${instantRates[sink].at(-1)!.toFixed(0)}/s (${atRoundTrip[sink].at(-1)!.toFixed(0)}/s at ${roundTripMs} ms)`,
        ).join(', '),
    );
  }
  // Side by side in each round, so the machine's drift cancels out of each ratio.
  const report = (label: string, rates: Record<Sink, number[]>) => {
    const ratios = rates[EO].map((rate, i) => rate / rates[SW][i]!);
    return (
      `${SINKS.map((sink) => `B ${sink}${label}: ${rates[sink].map((r) => r.toFixed(0)).join(', ')} (median ${median(rates[sink]).toFixed(0)})`).join('\n')}\n` +
      `exactly-once / at-least-once${label}: ${(median(rates[EO]) / median(rates[SW])).toFixed(2)} of the medians; ` +
      `per round ${ratios.map((r) => r.toFixed(2)).join(', ')} (median ${median(ratios).toFixed(2)})`
    );
  };
  console.log(`${report('', instantRates)}\n${report(` at ${roundTripMs} ms`, atRoundTrip)}`);
}
