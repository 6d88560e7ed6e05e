import { byPlaysThenName, compareNames } from './name-order.js';

/** BigQuery's order of STRINGs: by their UTF-8 bytes. */
const byBytes = (a: string, b: string) => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));

describe('compareNames', () => {
  it.each([
    ['Zulu', 'asiko'],
    ['abc', 'abcd'],
    ['z', 'é'],
    ['é', 'ｂ'],
    ['ｂ', '😀'],
    ['\uffff', '𐀀'],
    ['😀', '😁'],
  ])('puts %s before %s, as their UTF-8 bytes do', (first, second) => {
    expect(compareNames(first, second)).toBeLessThan(0);
    expect(compareNames(second, first)).toBeGreaterThan(0);
    expect(byBytes(first, second)).toBeLessThan(0);
  });

  it('says equal names are equal', () => {
    expect(compareNames('😀x', '😀x')).toBe(0);
  });

  it('orders as UTF-8 bytes do where JavaScript’s < does not (a name above U+FFFF against one from U+E000)', () => {
    expect('😀' < 'ｂ').toBe(true);
    expect(compareNames('😀', 'ｂ')).toBeGreaterThan(0);
  });

  it('agrees with byte order on every name of one or two mixed characters', () => {
    const alphabet = ['a', 'B', 'z', '-', 'é', 'ß', '\u0800', '\ud7ff', '\ue000', 'ｂ', '\uffff', '😀', '𐀀', '🎵'];
    // Every name of one or two of these characters: each pair of characters, and prefixes.
    const names = [...alphabet, ...alphabet.flatMap((x) => alphabet.map((y) => x + y))];
    const disagreements = names.flatMap((a) =>
      names.filter((b) => Math.sign(compareNames(a, b)) !== Math.sign(byBytes(a, b))).map((b) => [a, b]),
    );
    expect(disagreements).toEqual([]);
  });
});

describe('byPlaysThenName', () => {
  it('puts the most played first, then names in byte order', () => {
    const rows = [
      { name: 'b', plays: 1 },
      { name: 'a', plays: 1 },
      { name: 'c', plays: 2 },
    ];
    const sorted = rows.sort(
      byPlaysThenName(
        (r) => r.name,
        (r) => r.plays,
      ),
    );
    expect(sorted.map((r) => r.name)).toEqual(['c', 'a', 'b']);
  });
});
