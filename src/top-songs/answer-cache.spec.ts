import { AnswerCache } from './answer-cache.js';

/** A promise and the functions that settle it. */
function deferred<T>() {
  let resolve!: (value: T) => void;
  let reject!: (error: Error) => void;
  const promise = new Promise<T>((res, rej) => ((resolve = res), (reject = rej)));
  return { promise, resolve, reject };
}

describe('AnswerCache', () => {
  let now = 0;
  const clock = () => now;
  beforeEach(() => (now = 1_000));

  it('gives requests that arrive while an answer is fetched the same answer, and fetches once', async () => {
    const cache = new AnswerCache<string>(1_000, 100, clock);
    const pending = deferred<string>();
    const fetch = vi.fn(() => pending.promise);
    const first = cache.get('15m', fetch);
    const second = cache.get('15m', fetch);
    pending.resolve('answer');
    expect(await first).toBe('answer');
    expect(await second).toBe('answer');
    expect(fetch).toHaveBeenCalledTimes(1);
  });

  it('reuses an answer for the time to live after it arrived, then fetches again', async () => {
    const cache = new AnswerCache<number>(1_000, 100, clock);
    let calls = 0;
    const fetch = () => Promise.resolve(++calls);
    expect(await cache.get('k', fetch)).toBe(1);
    now += 999;
    expect(await cache.get('k', fetch)).toBe(1);
    now += 1;
    expect(await cache.get('k', fetch)).toBe(2);
  });

  it('counts the time to live from when the answer arrived, not from when it was asked', async () => {
    const cache = new AnswerCache<string>(1_000, 100, clock);
    const slow = deferred<string>();
    void cache.get('k', () => slow.promise);
    now += 5_000; // a slow query
    slow.resolve('late');
    await slow.promise;
    now += 500;
    const fetch = vi.fn(() => Promise.resolve('fresh'));
    expect(await cache.get('k', fetch)).toBe('late');
    expect(fetch).not.toHaveBeenCalled();
  });

  it('shares a failure for the time to live too, then asks again', async () => {
    const cache = new AnswerCache<string>(1_000, 100, clock);
    const fetch = vi.fn().mockRejectedValueOnce(new Error('outage')).mockResolvedValueOnce('back');
    await expect(cache.get('k', fetch)).rejects.toThrow('outage');
    await expect(cache.get('k', fetch)).rejects.toThrow('outage');
    expect(fetch).toHaveBeenCalledTimes(1);
    now += 1_000;
    expect(await cache.get('k', fetch)).toBe('back');
  });

  it('keeps answers for different keys apart', async () => {
    const cache = new AnswerCache<string>(1_000, 100, clock);
    expect(await cache.get('15m/10', () => Promise.resolve('a'))).toBe('a');
    expect(await cache.get('1h/10', () => Promise.resolve('b'))).toBe('b');
    expect(await cache.get('15m/10', () => Promise.resolve('c'))).toBe('a');
  });

  it('with a time to live of 0 still shares an answer being fetched, and nothing after', async () => {
    const cache = new AnswerCache<string>(0, 100, clock);
    const pending = deferred<string>();
    const fetch = vi.fn(() => pending.promise);
    const both = [cache.get('k', fetch), cache.get('k', fetch)];
    pending.resolve('x');
    await Promise.all(both);
    expect(fetch).toHaveBeenCalledTimes(1);
    await cache.get('k', () => Promise.resolve('y'));
    expect(await cache.get('k', () => Promise.resolve('z'))).toBe('z');
  });

  it('drops expired answers once it holds its maximum, never one still being fetched', async () => {
    const cache = new AnswerCache<string>(1_000, 3, clock);
    for (const key of ['a', 'b']) await cache.get(key, () => Promise.resolve(key));
    const pending = deferred<string>();
    void cache.get('in-flight', () => pending.promise);
    now += 2_000;
    expect(cache.size).toBe(3);
    await cache.get('d', () => Promise.resolve('d'));
    expect(cache.size).toBe(2); // 'in-flight' and 'd'
    const again = vi.fn(() => Promise.resolve('again'));
    void cache.get('in-flight', again);
    expect(again).not.toHaveBeenCalled();
    pending.resolve('done');
  });

  it('keeps nothing when the fetch throws instead of returning a promise, so the next request asks afresh', async () => {
    const cache = new AnswerCache<string>(1_000, 100, clock);
    expect(() =>
      cache.get('k', () => {
        throw new Error('over budget');
      }),
    ).toThrow('over budget');
    expect(cache.size).toBe(0);
    expect(await cache.get('k', () => Promise.resolve('fine'))).toBe('fine');
  });
});
