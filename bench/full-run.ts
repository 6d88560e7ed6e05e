import type { BenchContext } from './bench-context.js';
import { measureDashboardFreshness, measureLiveFreshness } from './dashboard-freshness.js';
import { drainBare } from './drain-bare.js';
import { LiveCost } from './live-cost.js';
import { measureFreshness } from './measure-freshness.js';
import { measureLatency } from './measure-latency.js';
import { median } from './median.js';
import { runOriginal } from './run-original.js';
import { say } from './say.js';
import { DEFAULT_SINK, inTurn, perSink, SINKS, type Sink } from './sinks.js';

/** What the full run measured, for the report. Rates in plays/s, times in ms. */
export interface FullRunFigures {
  A: number;
  B: Record<Sink, number>;
  /** B at the round trip. */
  B75: Record<Sink, number>;
  C: number;
  requestsPer1000: Record<Sink, number>;
  /** The default sink with the live view off and on, in pairs (--live-pairs a round). */
  live: LiveCost;
  emulatorPlays: number;
  onEmulator: Record<Sink, number>;
  /** Dashboard freshness samples, sorted: polling with the live view off, and through it. */
  freshnessSorted: number[];
  liveSorted: number[];
  p50: number;
  p99: number;
  memoryPlays: number;
  memory: { rate: number; peakRssMb: number };
}

/** A, B and C side by side in each round, then B on the emulator, freshness, latency and memory. */
export async function fullRun(bench: BenchContext): Promise<FullRunFigures> {
  const { flags, topics, service: runner, standIns, plays, repeat, roundTripMs } = bench;
  const topic = await topics.fresh();
  await topics.preload(topic, plays);

  const bare: number[] = [];
  const service = perSink<number[]>(() => []);
  const atRoundTrip = perSink<number[]>(() => []);
  const requestsPer1000 = perSink(() => 0);
  const original: number[] = [];
  // The default sink with the live view off and on (LIVE_ENABLED), in pairs after each round's sinks:
  // what counting, publishing and reading back the deltas cost.
  const live = new LiveCost();
  const livePairs = flags['live-pairs'];
  for (let i = 0; i < repeat; i++) {
    bare.push(await drainBare(bench, topic));
    for (const sink of inTurn(i)) {
      const b = await runner.drainWith(topic, sink, standIns.instant);
      service[sink].push(b.rate);
      requestsPer1000[sink] = b.requestsPer1000;
      atRoundTrip[sink].push((await runner.drainWith(topic, sink, standIns.slow)).rate);
    }
    for (let p = 0; p < livePairs; p++) await live.pair(bench, topic, live.pairs % 2 === 1);
    original.push(await runOriginal(bench, topic, 10));
    say(
      `round ${i + 1}: A ${bare.at(-1)!.toFixed(0)}/s, ` +
        SINKS.map(
          (sink) =>
            `B ${sink} ${service[sink].at(-1)!.toFixed(0)}/s (${atRoundTrip[sink].at(-1)!.toFixed(0)}/s at ${roundTripMs} ms)`,
        ).join(', ') +
        `, B ${DEFAULT_SINK} live off / on ${live.off
          .slice(-livePairs)
          .map((r, p) => `${r.toFixed(0)} / ${live.on.at(p - livePairs)!.toFixed(0)}`)
          .join(', ')}/s, C ${original.at(-1)!.toFixed(0)}/s`,
    );
  }
  const A = median(bare);
  const C = median(original);
  const B = perSink(() => 0);
  const B75 = perSink(() => 0);
  for (const sink of SINKS) {
    B[sink] = median(service[sink]);
    B75[sink] = median(atRoundTrip[sink]);
  }

  // B on the real emulator (local-bigquery: REST and its Write API), for information.
  const emulatorPlays = flags['emulator-plays'];
  const onEmulator = {} as Record<Sink, number>;
  for (const sink of SINKS) {
    const emulatorTopic = await topics.fresh();
    await topics.preload(emulatorTopic, emulatorPlays);
    onEmulator[sink] = (
      await runner.drain(emulatorTopic, emulatorPlays, sink, standIns.emulator, () => emulatorPlays)
    ).rate;
  }

  // Dashboard freshness: produce to a dashboard viewer's screen, on the emulator, at default
  // settings: polling with the live view off (as before it), then through the live view.
  const freshness = await measureFreshness(
    bench,
    { LIVE_ENABLED: 'false' },
    measureDashboardFreshness,
    flags['freshness-samples'],
  );
  const liveFreshness = await measureFreshness(
    bench,
    { LIVE_ENABLED: 'true' },
    measureLiveFreshness,
    flags['live-samples'],
  );
  const freshnessSorted = [...freshness].sort((a, b) => a - b);
  const liveSorted = [...liveFreshness].sort((a, b) => a - b);

  const { p50, p99 } = await measureLatency(bench);

  // Memory: peak RSS of B (default sink) draining a 1,000,000-play backlog.
  const memoryPlays = flags['memory-plays'];
  const memory = (await runner.memoryDrains(memoryPlays, 1))[0]!;

  return {
    A,
    B,
    B75,
    C,
    requestsPer1000,
    live,
    emulatorPlays,
    onEmulator,
    freshnessSorted,
    liveSorted,
    p50,
    p99,
    memoryPlays,
    memory,
  };
}
