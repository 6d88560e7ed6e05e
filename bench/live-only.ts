import type { BenchContext } from './bench-context.js';
import { LiveCost } from './live-cost.js';
import { say } from './say.js';
import { DEFAULT_SINK } from './sinks.js';

/**
 * --only live: the default sink drained with the live view off and on, side by side, --repeat pairs
 * (which goes first alternates): issue 23's on/off ratio alone, without the rest of the full run.
 */
export async function runLiveOnly(bench: BenchContext) {
  const { topics, service, standIns, plays, repeat } = bench;
  const topic = await topics.fresh();
  await topics.preload(topic, plays);
  // Not counted: the first drain of a new topic meets a cold broker.
  await service.drainWith(topic, DEFAULT_SINK, standIns.instant);
  const cost = new LiveCost();
  for (let i = 0; i < repeat; i++) {
    await cost.pair(bench, topic, i % 2 === 1);
    say(`pair ${i + 1}: live off ${cost.off.at(-1)!.toFixed(0)}/s, on ${cost.on.at(-1)!.toFixed(0)}/s`);
  }
  console.log(
    `live off: ${cost.off.map((r) => r.toFixed(0)).join(', ')}\n` +
      `live on: ${cost.on.map((r) => r.toFixed(0)).join(', ')}\n` +
      `on / off, by mean drain time: ${cost.summary()}`,
  );
}
