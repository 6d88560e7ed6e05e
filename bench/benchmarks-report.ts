import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { BenchContext } from './bench-context.js';
import type { FullRunFigures } from './full-run.js';
import { median } from './median.js';
import { PARTITIONS } from './play-topics.js';
import { say } from './say.js';
import { DEFAULT_SINK, EO, IA, SW } from './sinks.js';

const ANALYSIS_HEADING = '## What bounds each figure';

/**
 * The full run's figures: bench-results.json for tools, the table on stdout, and docs/BENCHMARKS.md
 * (the table and how it was measured; the hand-written analysis below it is kept).
 */
export function writeReport(
  { root, image, plays: N, repeat: REPEAT, roundTripMs }: BenchContext,
  measured: FullRunFigures,
): void {
  const { A, B, B75, C, requestsPer1000, live, emulatorPlays, onEmulator, freshnessSorted, liveSorted } = measured;
  const { p50, p99, memoryPlays, memory } = measured;
  const liveP99 = liveSorted[Math.min(liveSorted.length - 1, Math.floor(liveSorted.length * 0.99))]!;
  const results: Record<string, string> = {};
  results.A = A.toFixed(0);
  results.Beo = B[EO].toFixed(0);
  results.Bsw = B[SW].toFixed(0);
  results.Bia = B[IA].toFixed(0);
  results.C = C.toFixed(0);
  results['B/A'] = (B[DEFAULT_SINK] / A).toFixed(2);
  results['B/C'] = (B[DEFAULT_SINK] / C).toFixed(0);
  results['Bsw/Bia'] = (B[SW] / B[IA]).toFixed(2);
  results['Beo/Bsw'] = (B[EO] / B[SW]).toFixed(2);
  results.B75eo = B75[EO].toFixed(0);
  results.B75sw = B75[SW].toFixed(0);
  results.B75ia = B75[IA].toFixed(0);
  results.requestsEo = requestsPer1000[EO].toFixed(2);
  results.requestsSw = requestsPer1000[SW].toFixed(2);
  results.requestsIa = requestsPer1000[IA].toFixed(2);
  results.emulatorEo = onEmulator[EO].toFixed(0);
  results.emulatorSw = onEmulator[SW].toFixed(0);
  results.emulatorIa = onEmulator[IA].toFixed(0);
  results.p50 = (p50 / 1000).toFixed(3);
  results.p99 = (p99 / 1000).toFixed(3);
  results.rss = memory.peakRssMb.toFixed(0);
  results.freshnessP50 = (median(freshnessSorted) / 1000).toFixed(1);
  results.freshnessMax = (freshnessSorted.at(-1)! / 1000).toFixed(1);
  results.liveP50 = (median(liveSorted) / 1000).toFixed(2);
  results.liveP99 = (liveP99 / 1000).toFixed(2);
  results.liveMax = (liveSorted.at(-1)! / 1000).toFixed(2);
  results.liveOn = median(live.on).toFixed(0);
  results['live on/off'] = live.ratio.toFixed(3);
  results.liveSe = live.standardError.toFixed(3);
  results.liveRatios = live.perPair.map((ratio) => ratio.toFixed(2)).join(', ');
  results.memoryRate = memory.rate.toFixed(0);

  // The figures for tools and for the next issue's comparisons (git-ignored).
  const figures = {
    a_plays_per_s: Math.round(A),
    b_insert_all_plays_per_s: Math.round(B[IA]),
    // The default stream (at-least-once), as issue 13 measured it; exactly-once (the default) beside it.
    b_storage_write_plays_per_s: Math.round(B[SW]),
    b_storage_write_exactly_once_plays_per_s: Math.round(B[EO]),
    c_plays_per_s: Math.round(C),
    b_insert_all_at_75ms_plays_per_s: Math.round(B75[IA]),
    b_storage_write_at_75ms_plays_per_s: Math.round(B75[SW]),
    b_storage_write_exactly_once_at_75ms_plays_per_s: Math.round(B75[EO]),
    latency_p99_s: p99 / 1000,
    dashboard_freshness_p99_s: liveP99 / 1000,
    dashboard_freshness_polling_p50_s: median(freshnessSorted) / 1000,
    b_storage_write_exactly_once_live_on_plays_per_s: Math.round(median(live.on)),
    b_storage_write_exactly_once_live_on_off_ratio: Number(live.ratio.toFixed(3)),
    peak_rss_mb: Math.round(memory.peakRssMb),
  };
  fs.writeFileSync(path.join(root, 'bench-results.json'), `${JSON.stringify(figures, null, 2)}\n`);
  say('wrote bench-results.json');

  const rt = `${roundTripMs} ms`;
  const table = [
    '| measure | value | bar |',
    '| --- | --- | --- |',
    `| A: bare kafkajs eachBatch, decode + validate (plays/s, median of ${REPEAT}) | ${results.A} | |`,
    `| B storage-write exactly-once (the default): plays-pipeline into a gRPC Write API stand-in answering at once (plays/s, median of ${REPEAT}) | ${results.Beo} | |`,
    `| B storage-write at-least-once (the default stream), same stand-in (plays/s, median of ${REPEAT}) | ${results.Bsw} | |`,
    `| B insert-all: plays-pipeline into an insertAll stand-in answering at once (plays/s, median of ${REPEAT}) | ${results.Bia} | |`,
    `| C: original design, one awaited insertAll per play (plays/s, median of ${REPEAT}) | ${results.C} | |`,
    `| B/A (default sink) | ${results['B/A']} | ≥ 0.8 |`,
    `| B/C (default sink) | ${results['B/C']} | ≥ 50 |`,
    `| B storage-write / B insert-all (both at-least-once) | ${results['Bsw/Bia']} | ≥ 0.8 |`,
    `| B storage-write exactly-once / at-least-once | ${results['Beo/Bsw']} | ≥ 0.9 |`,
    `| B storage-write exactly-once, every append answered after ${rt} (plays/s, median of ${REPEAT}) | ${results.B75eo} | ≥ 50,000 |`,
    `| B storage-write at-least-once, every append answered after ${rt} (plays/s, median of ${REPEAT}) | ${results.B75sw} | ≥ 50,000 |`,
    `| B insert-all, every insertAll answered after ${rt} (plays/s, median of ${REPEAT}) | ${results.B75ia} | |`,
    `| requests per 1,000 rows, saturated: exactly-once appends / at-least-once appends / insertAll requests | ${results.requestsEo} / ${results.requestsSw} / ${results.requestsIa} | |`,
    `| B into the local-bigquery emulator, storage-write exactly-once / at-least-once / insert-all (plays/s, ${emulatorPlays} plays, for information) | ${results.emulatorEo} / ${results.emulatorSw} / ${results.emulatorIa} | |`,
    `| produce-to-row latency p50 / p99 at 1,000 plays/s, default sink (s) | ${results.p50} / ${results.p99} | p99 ≤ 1.5 |`,
    `| B ${DEFAULT_SINK} with the live view on (plays/s, median of ${live.pairs}); with it on / off (the default), by mean drain time over ${live.pairs} pairs side by side (se; per pair) | ${results.liveOn}; ${results['live on/off']} (se ${results.liveSe}; ${results.liveRatios}) | ≥ 0.95 |`,
    `| dashboard freshness, live view on (SSE, then /api/top-songs from memory): produce to a viewer's screen on the emulator, otherwise default settings, median / p99 / worst of ${liveSorted.length} (s) | ${results.liveP50} / ${results.liveP99} / ${results.liveMax} | p99 ≤ 1 |`,
    `| dashboard freshness, polling every 2 s with the live view off (the default; each answer a BigQuery query), median / worst of ${freshnessSorted.length} (s) | ${results.freshnessP50} / ${results.freshnessMax} | ≤ 5 |`,
    `| peak RSS of B (default sink) draining ${memoryPlays.toLocaleString('en')} plays (MB); its drain rate | ${results.rss} MB; ${results.memoryRate}/s | ≤ 256 MB |`,
  ].join('\n');
  console.log(`\n${table}\n`);

  const machine = `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, ${os.type()} ${os.release()}`;
  const kafkaVersion =
    /Apache Kafka ([\d.]+)/.exec(fs.readFileSync(path.join(root, 'README.md'), 'utf8'))?.[1] ?? '4.x';
  const doc = `# Benchmarks

Measured by \`npm run bench\` (bench/run.ts) in one run on one machine, side by side, against one local
single-node Kafka broker (deps:up). A topic of ${N.toLocaleString('en')} plays in the original format
(${PARTITIONS} partitions) is drained from offset 0 by a fresh consumer group each time; each drain is
repeated ${REPEAT} times (in each round the sinks go in turn, none always first) and the median is reported. Rates are counted from the consumer's group join to
the last play (B: to the last row written **and** every offset committed). The figures are also written to
\`bench-results.json\` (not committed).

- **A** is the ceiling: a bare kafkajs \`eachBatch\` consumer that decodes and validates each play.
- **B** is plays-pipeline itself (dist/main.js: ingest, validation, batching, sink, commits), once per
  write path (\`SINK_API\`, and for storage-write each \`SINK_DELIVERY\`), each at its default settings, writing to a local stand-in for its API that
  answers at once and counts rows, so the figure is ours and not an emulator's: for \`storage-write\` a
  gRPC server of the Write API's own service definition (bench/fake-storage-write.ts, from the proto
  that @google-cloud/bigquery-storage ships), for \`insert-all\` an HTTP server (bench/fake-bigquery.ts).
  **B at ${rt}** is the same drain against the same stand-ins answering every request after ${rt},
  as a real BigQuery round trip does: what one instance sustains against BigQuery.
- **C** is the original design on NestJS defaults: \`ServerKafka\`'s \`eachMessage\` handler awaiting one
  insertAll per play against the insertAll stand-in, for 10 s.
- **Dashboard freshness** is the time from producing one play into Kafka to the first GET /api/top-songs
  answer that counts it, with the service at its default settings writing to the BigQuery emulator; the
  plays are sent one at a time at random moments. Through the live view (\`LIVE_ENABLED=true\`) the viewer
  listens to GET /api/live and asks again on each event, as the page does; with it off (the default) the
  viewer asks every 2 s and each answer is a BigQuery query.

${table}

Run on ${new Date().toISOString().slice(0, 10)}: ${machine}; Node ${process.versions.node}; Apache Kafka ${kafkaVersion}
(single node, KRaft); kafkajs 2.2.4; service node flags (the image's NODE_OPTIONS and CMD): ${image.serviceNodeOptions.join(' ') || 'none'}; the image's other environment: ${image.envText}; each sink at its default settings (README's configuration table).
The machine is small and shared, so figures move by tens of percent between runs; the ratios, measured side
by side, move less.
`;
  // The analysis below the figures is written by hand; a new run keeps it.
  const docPath = path.join(root, 'docs/BENCHMARKS.md');
  const previous = fs.existsSync(docPath) ? fs.readFileSync(docPath, 'utf8') : '';
  const analysis = previous.indexOf(ANALYSIS_HEADING);
  fs.writeFileSync(docPath, analysis === -1 ? doc : `${doc}\n${previous.slice(analysis)}`);
  say('wrote docs/BENCHMARKS.md');
}
