import { z } from 'zod';
import { bool, int, optional, topic } from './env-fields.js';

/** The live view: deltas of written plays published to a topic, read back and counted in memory. */
export const liveEnv = {
  LIVE_ENABLED: bool(false).describe(
    'The live view: the ingest publishes what each written batch adds (plays per minute, artist and song) to LIVE_TOPIC, and the dashboard reads that topic back and answers windows within LIVE_HORIZON from memory, pushing changes over /api/live, instead of querying BigQuery. Turn it on for every replica of a group at once: rows written without it have no delta. Off by default: the ingest then needs the right to create and write that topic, and commits a batch only once its delta is written. On, it costs about 3% of the drain rate (2-4% measured, within the noise of the benchmark) and 5-15 MB of peak memory (docs/BENCHMARKS.md).',
  ),
  LIVE_TOPIC: optional(topic('unused')).describe(
    "Topic of the live view's deltas (one per written batch); unset means KAFKA_TOPIC with .live appended.",
  ),
  LIVE_HORIZON: z
    .string()
    .trim()
    .default('24h')
    .transform((value, ctx) => {
      const match = /^(\d{1,4})([mh])$/.exec(value);
      const ms = match === null ? NaN : Number(match[1]) * (match[2] === 'h' ? 3_600_000 : 60_000);
      if (!(ms >= 3_600_000 && ms <= 7 * 86_400_000)) {
        ctx.addIssue({
          code: 'custom',
          message: `must be minutes or hours from 1h to 168h (e.g. 24h, 90m); got "${value}"`,
        });
        return z.NEVER;
      }
      return ms;
    })
    .describe('How far back the live view counts (minutes or hours, e.g. 24h); in milliseconds once parsed.'),
  LIVE_MAX_ENTRIES: int(1_000, 100_000_000, 500_000).describe(
    "Most (minute, artist, song) counts the live view holds, about 110 bytes of heap each (the default: about 55 MB, within the image's --max-old-space-size=192 beside the ingest); past it the oldest minutes go, and windows reaching into them are answered by BigQuery. A catalogue of 1,000 songs played every minute fills it in about 8 hours; 10,000 songs every minute of 24 h would need 14.4 million (about 1.6 GB): raise --max-old-space-size (NODE_OPTIONS) with it.",
  ),
};
