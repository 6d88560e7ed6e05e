/**
 * Orders strings as BigQuery's ORDER BY does: by their UTF-8 bytes, which is Unicode code point
 * order. Not localeCompare (which puts "a" before "B"), and not JavaScript's `<` either: that compares
 * UTF-16 code units, so "😀" (U+1F600, a surrogate pair 0xD83D 0xDE00) would sort before "Ａ" (U+FF21).
 */
export function compareNames(a: string, b: string): number {
  if (a === b) return 0;
  const length = Math.min(a.length, b.length);
  for (let i = 0; i < length; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) return codePointRank(x) - codePointRank(y);
  }
  return a.length - b.length;
}

// Moves surrogates (0xD800..0xDFFF, halves of code points above 0xFFFF) after 0xE000..0xFFFF, so a
// first differing code unit decides as the code points would.
const codePointRank = (unit: number) => (unit < 0xd800 ? unit : unit < 0xe000 ? unit + 0x2000 : unit - 0x800);

/** Most played first, then by name as BigQuery orders it. */
export function byPlaysThenName<T>(name: (item: T) => string, plays: (item: T) => number) {
  return (a: T, b: T) => plays(b) - plays(a) || compareNames(name(a), name(b));
}
