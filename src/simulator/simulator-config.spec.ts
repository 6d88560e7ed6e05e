import { ConfigValidationError, parseEnv } from '../config/parse-env.js';

const minimal = { BIGQUERY_PROJECT_ID: 'plays-local' };

function problemsOf(env: Record<string, string>): readonly string[] {
  try {
    parseEnv({ ...minimal, ...env });
  } catch (error) {
    if (error instanceof ConfigValidationError) return error.problems;
    throw error;
  }
  throw new Error('expected a ConfigValidationError');
}

describe('simulator configuration', () => {
  it('is off by default, with the original rhythm, artist and songs', () => {
    const env = parseEnv(minimal);
    expect(env).toMatchObject({
      SIMULATOR_ENABLED: false,
      SIMULATOR_INTERVAL_MS: 3_000,
      SIMULATOR_EVENTS_PER_TICK: 1,
      SIMULATOR_ARTIST: 'tony-allen',
      SIMULATOR_SONGS: [
        'zombie',
        'lady',
        'secret-agent',
        'kindness',
        'soldiers',
        'asiko',
        'the-same-blood',
        'upside-down',
        'african-man',
        'vip',
      ],
      SIMULATOR_TIMESTAMPS: 'now',
      SIMULATOR_DISTRIBUTION: 'skewed',
    });
    // Resolved in code: the ingest topic, no limit, a random seed.
    expect(env.SIMULATOR_TOPIC).toBeUndefined();
    expect(env.SIMULATOR_MAX_EVENTS).toBeUndefined();
    expect(env.SIMULATOR_SEED).toBeUndefined();
  });

  it('types the settings', () => {
    const env = parseEnv({
      ...minimal,
      SIMULATOR_ENABLED: 'true',
      SIMULATOR_INTERVAL_MS: '250',
      SIMULATOR_EVENTS_PER_TICK: '100',
      SIMULATOR_TOPIC: 'demo-plays',
      SIMULATOR_MAX_EVENTS: '20',
      SIMULATOR_SONGS: ' zombie , lady,, ',
      SIMULATOR_TIMESTAMPS: 'this-month',
      SIMULATOR_DISTRIBUTION: 'uniform',
      SIMULATOR_SEED: '0',
    });
    expect(env).toMatchObject({
      SIMULATOR_ENABLED: true,
      SIMULATOR_INTERVAL_MS: 250,
      SIMULATOR_EVENTS_PER_TICK: 100,
      SIMULATOR_TOPIC: 'demo-plays',
      SIMULATOR_MAX_EVENTS: 20,
      SIMULATOR_SONGS: ['zombie', 'lady'],
      SIMULATOR_TIMESTAMPS: 'this-month',
      SIMULATOR_DISTRIBUTION: 'uniform',
      SIMULATOR_SEED: 0,
    });
  });

  it('names each bad simulator variable and the rule it broke', () => {
    expect(
      problemsOf({
        SIMULATOR_ENABLED: 'yes please',
        SIMULATOR_INTERVAL_MS: 'soon',
        SIMULATOR_EVENTS_PER_TICK: '0',
        SIMULATOR_TOPIC: 'bad topic',
        SIMULATOR_MAX_EVENTS: '-1',
        SIMULATOR_SONGS: ' , ',
        SIMULATOR_TIMESTAMPS: 'yesterday',
        SIMULATOR_DISTRIBUTION: 'zipf',
        SIMULATOR_SEED: '1.5',
      }),
    ).toEqual([
      'SIMULATOR_ENABLED must be true or false (got "yes please")',
      'SIMULATOR_INTERVAL_MS must be a whole number (got "soon")',
      'SIMULATOR_EVENTS_PER_TICK must be at least 1 (got "0")',
      expect.stringMatching(/^SIMULATOR_TOPIC must be 1-249 characters/),
      'SIMULATOR_MAX_EVENTS must be at least 1 (got "-1")',
      'SIMULATOR_SONGS must list at least one song name (got " , ")',
      'SIMULATOR_TIMESTAMPS must be now or this-month (got "yesterday")',
      'SIMULATOR_DISTRIBUTION must be skewed or uniform (got "zipf")',
      'SIMULATOR_SEED must be a whole number (got "1.5")',
    ]);
    expect(problemsOf({ SIMULATOR_INTERVAL_MS: '5' })).toEqual(['SIMULATOR_INTERVAL_MS must be at least 10 (got "5")']);
    expect(problemsOf({ SIMULATOR_EVENTS_PER_TICK: '5000' })).toEqual([
      'SIMULATOR_EVENTS_PER_TICK must be at most 1000 (got "5000")',
    ]);
  });

  it('reads SIMULATOR_CATALOG: artists in order, each with its songs in order', () => {
    const env = parseEnv({
      ...minimal,
      SIMULATOR_CATALOG: '{"tony-allen": ["zombie", "lady"], "fela-kuti": ["water no get enemy"]}',
    });
    expect(env.SIMULATOR_CATALOG).toEqual([
      { artist: 'tony-allen', songs: ['zombie', 'lady'] },
      { artist: 'fela-kuti', songs: ['water no get enemy'] },
    ]);
    expect(parseEnv(minimal).SIMULATOR_CATALOG).toBeUndefined();
  });

  it.each([
    ['not json', 'SIMULATOR_CATALOG must be JSON: {"artist": ["song", ...], ...} (got "not json")'],
    ['["zombie"]', 'SIMULATOR_CATALOG must be a JSON object: {"artist": ["song", ...], ...} (got "[\\"zombie\\"]")'],
    ['{}', 'SIMULATOR_CATALOG must name at least one artist (got "{}")'],
    ['{"a": []}', 'SIMULATOR_CATALOG must give each artist at least one song (got "{\\"a\\": []}")'],
    [
      '{"a": "zombie"}',
      'SIMULATOR_CATALOG must map each artist to an array of song names (got "{\\"a\\": \\"zombie\\"}")',
    ],
    ['{"a": [""]}', 'SIMULATOR_CATALOG names must be 1-1024 characters on one line (got "{\\"a\\": [\\"\\"]}")'],
  ])('refuses SIMULATOR_CATALOG=%s, saying why', (catalog, problem) => {
    expect(problemsOf({ SIMULATOR_CATALOG: catalog })).toEqual([problem]);
  });

  it('refuses SIMULATOR_CATALOG together with SIMULATOR_ARTIST or SIMULATOR_SONGS', () => {
    const catalog = '{"fela-kuti": ["zombie"]}';
    const others: Record<string, string>[] = [{ SIMULATOR_ARTIST: 'fela-kuti' }, { SIMULATOR_SONGS: 'zombie' }];
    for (const other of others) {
      expect(problemsOf({ SIMULATOR_CATALOG: catalog, ...other })).toEqual([
        expect.stringMatching(/^SIMULATOR_CATALOG replaces SIMULATOR_ARTIST and SIMULATOR_SONGS: set either, not both/),
      ]);
    }
  });
});
