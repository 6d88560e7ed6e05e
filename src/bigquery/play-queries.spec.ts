import { artistsSinceQuery, playsOverTimeQuery, tableRef, topSongsSinceQuery } from './play-queries.js';

const table = tableRef('plays-local.music.tony_allen_plays');
const scans = (query: string) => query.split(table).length - 1;

describe('the top-songs API queries', () => {
  // BigQuery bills each read of a table; a CTE referenced twice is read twice.
  it.each([
    ['top songs', topSongsSinceQuery(table, { artist: false })],
    ["one artist's top songs", topSongsSinceQuery(table, { artist: true })],
    ['artists', artistsSinceQuery(table)],
    ['plays over time', playsOverTimeQuery(table, { artist: false })],
    ["one artist's plays over time", playsOverTimeQuery(table, { artist: true })],
  ])('%s read the table once, in the window', (_, query) => {
    expect(scans(query)).toBe(1);
    expect(query).toContain(`FROM ${table} WHERE timestamp >= @since`);
  });

  it('plays over time: every CTE is named once, so none is run twice', () => {
    const query = playsOverTimeQuery(table, { artist: true });
    for (const cte of [...query.matchAll(/(\w+) AS \(/g)].map((m) => m[1]!)) {
      expect(query.split(new RegExp(`\\b(?:FROM|JOIN) ${cte}\\b`)).length - 1, cte).toBe(1);
    }
  });
});
