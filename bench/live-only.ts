import type { BenchContext } from './bench-context.js';
import { median } from './median.js';
import { say } from './say.js';
import { DEFAULT_SINK } from './sinks.js';

/**
 * --only live: the default sink drained with the live view off and on, side by side, --repeat times
 * (which goes first alternates): issue 23's on/off ratio alone, without the rest of the full run.
 */
export async function runLiveOnly({ topics, service, standIns, plays, repeat }: BenchContext) {
  const topic = await topics.fresh();
  await topics.preload(topic, plays);
  const off: number[] = [];
  const on: number[] = [];
  // Not counted: the first drain of a new topic meets a cold broker.
  await service.drainWith(topic, DEFAULT_SINK, standIns.instant);
  const drainLiveOn = async () =>
    on.push((await service.drainWith(topic, DEFAULT_SINK, standIns.instant, plays, { LIVE_ENABLED: 'true' })).rate);
  const drainLiveOff = async () => off.push((await service.drainWith(topic, DEFAULT_SINK, standIns.instant)).rate);
  for (let i = 0; i < repeat; i++) {
    for (const drain of i % 2 === 0 ? [drainLiveOff, drainLiveOn] : [drainLiveOn, drainLiveOff]) await drain();
    say(`round ${i + 1}: live off ${off.at(-1)!.toFixed(0)}/s, on ${on.at(-1)!.toFixed(0)}/s`);
  }
  const ratios = on.map((rate, i) => rate / off[i]!);
  console.log(
    `live off: ${off.map((r) => r.toFixed(0)).join(', ')} (median ${median(off).toFixed(0)})\n` +
      `live on: ${on.map((r) => r.toFixed(0)).join(', ')} (median ${median(on).toFixed(0)})\n` +
      `on / off: ${(median(on) / median(off)).toFixed(2)} of the medians; per round ${ratios.map((r) => r.toFixed(2)).join(', ')} (median ${median(ratios).toFixed(2)})`,
  );
}
