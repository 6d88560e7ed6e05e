/**
 * Where a list refused for its size (a request's rows, a batch of letters, a delta's messages) is
 * cut: its halves, the first rounded up, go on their own, in order. Null for a single item, which
 * cannot be cut. One rule, so every stage splits the same way.
 */
export function splitPoint(count: number): number | null {
  return count > 1 ? Math.ceil(count / 2) : null;
}
