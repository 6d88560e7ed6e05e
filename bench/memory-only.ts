import type { BenchContext } from './bench-context.js';
import { median } from './median.js';
import { DEFAULT_SINK } from './sinks.js';

/** --only memory: B's peak RSS draining --memory-plays, --memory-repeat times on one preloaded topic. */
export async function runMemoryOnly({ flags, service }: BenchContext): Promise<void> {
  const drains = await service.memoryDrains(flags['memory-plays'], flags['memory-repeat']);
  const peaks = drains.map((d) => d.peakRssMb);
  console.log(
    `peak RSS of B (${DEFAULT_SINK}) draining ${flags['memory-plays'].toLocaleString('en')} plays: ` +
      `${peaks.map((p) => p.toFixed(0)).join(', ')} MB (median ${median(peaks).toFixed(0)}); ` +
      `rates ${drains.map((d) => d.rate.toFixed(0)).join(', ')}/s`,
  );
}
