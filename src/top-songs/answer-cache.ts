interface Entry<T> {
  /** Until when the answer is reused; Infinity while it is still being fetched. */
  expires: number;
  answer: Promise<T>;
}

/**
 * Answers shared by equal requests: a request that arrives while the answer is being fetched, or
 * within `ttlMs` after it settled (failures too, so an outage is not asked about by every viewer),
 * gets the same promise. Past `maxEntries`, expired answers are dropped. A fetch that throws rather
 * than returning a promise (a request refused before it started) leaves nothing behind.
 */
export class AnswerCache<T> {
  private readonly entries = new Map<string, Entry<T>>();

  constructor(
    private readonly ttlMs: number,
    private readonly maxEntries = 100,
    private readonly now: () => number = Date.now,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  get(key: string, fetch: () => Promise<T>): Promise<T> {
    const now = this.now();
    const cached = this.entries.get(key);
    if (cached !== undefined && cached.expires > now) return cached.answer;
    if (this.entries.size >= this.maxEntries) {
      for (const [old, entry] of this.entries) if (entry.expires <= now) this.entries.delete(old);
    }
    const entry: Entry<T> = { expires: Number.POSITIVE_INFINITY, answer: fetch() };
    this.entries.set(key, entry);
    const settled = () => (entry.expires = this.now() + this.ttlMs);
    entry.answer.then(settled, settled);
    return entry.answer;
  }
}
