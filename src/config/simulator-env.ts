import { z } from 'zod';
import { ORIGINAL_SONGS } from '../plays/play.js';
import { bool, commaList, int, name, optional, topic } from './env-fields.js';

const playName = (fallback: string) =>
  name(fallback, /^.{1,1024}$/, 'must be 1-1024 characters on one line (the ingest keeps no longer names)');
const songList = commaList(
  z.string().regex(/^.{1,1024}$/, { error: 'each song name must be at most 1024 characters' }),
  'must list at least one song name',
);

/** One simulated artist and its songs; a song's song_id is its index. */
export interface SimulatedArtist {
  artist: string;
  songs: string[];
}

// SIMULATOR_CATALOG: a JSON object, artist name → its song names, in order of popularity.
const MAX_CATALOG_ARTISTS = 1_000;
const catalogName = z.string().regex(/^.{1,1024}$/, { error: 'names must be 1-1024 characters on one line' });
const simulatorCatalog = z
  .string()
  .transform((text, ctx) => {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      ctx.addIssue({ code: 'custom', message: 'must be JSON: {"artist": ["song", ...], ...}' });
      return z.NEVER;
    }
  })
  .pipe(
    z
      .record(
        catalogName,
        z
          .array(catalogName, { error: 'must map each artist to an array of song names' })
          .min(1, { error: 'must give each artist at least one song' }),
        { error: 'must be a JSON object: {"artist": ["song", ...], ...}' },
      )
      .refine((catalog) => Object.keys(catalog).length >= 1, { error: 'must name at least one artist' })
      .refine((catalog) => Object.keys(catalog).length <= MAX_CATALOG_ARTISTS, {
        error: `must name at most ${MAX_CATALOG_ARTISTS} artists`,
      }),
  )
  .transform((catalog): SimulatedArtist[] => Object.entries(catalog).map(([artist, songs]) => ({ artist, songs })));

/** Simulator: fake plays for demos and load tests, off by default. */
export const simulatorEnv = {
  SIMULATOR_ENABLED: bool(false).describe(
    'Run the built-in simulator: it produces fake plays to SIMULATOR_TOPIC every SIMULATOR_INTERVAL_MS.',
  ),
  SIMULATOR_INTERVAL_MS: int(10, 3_600_000, 3_000).describe('Time between two simulator ticks.'),
  SIMULATOR_EVENTS_PER_TICK: int(1, 1_000, 1).describe(
    "Plays produced per tick, in one Kafka send (at most 1000, to stay under the broker's 1 MB batch limit).",
  ),
  SIMULATOR_TOPIC: optional(topic('unused')).describe('Topic the simulator produces to; unset means KAFKA_TOPIC.'),
  SIMULATOR_MAX_EVENTS: optional(int(1, Number.MAX_SAFE_INTEGER, 0)).describe(
    'Stop the simulator after this many plays; unset means no limit.',
  ),
  SIMULATOR_ARTIST: playName('tony-allen').describe('The artist of every simulated play (without SIMULATOR_CATALOG).'),
  SIMULATOR_SONGS: songList
    .default([...ORIGINAL_SONGS])
    .describe('Comma-separated song names; song_id is the index. Earlier songs are played more (skewed).'),
  SIMULATOR_CATALOG: simulatorCatalog
    .optional()
    .describe(
      'Several artists, each with its songs, as JSON: {"tony-allen":["zombie","lady"],"fela-kuti":["zombie"]}; earlier artists and songs are played more (skewed). Replaces SIMULATOR_ARTIST and SIMULATOR_SONGS.',
    ),
  SIMULATOR_TIMESTAMPS: z
    .enum(['now', 'this-month'], { error: 'must be now or this-month' })
    .default('now')
    .describe('Play timestamps: the current time, or a random time in the current month up to now (the original).'),
  SIMULATOR_DISTRIBUTION: z
    .enum(['skewed', 'uniform'], { error: 'must be skewed or uniform' })
    .default('skewed')
    .describe('Song popularity: skewed (Zipf-like, a few hits dominate) or uniform.'),
  SIMULATOR_SEED: optional(int(0, 4_294_967_295, 0)).describe(
    'Seed for the simulated plays, for reproducible runs; unset means a random seed.',
  ),
};
