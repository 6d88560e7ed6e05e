import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { SendDeadline } from './send-deadline.js';

describe('SendDeadline', () => {
  beforeEach(() => vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] }));
  afterEach(() => vi.useRealTimers());

  const track = (wait: Promise<void>) => {
    const state = { done: false };
    void wait.then(() => (state.done = true));
    return state;
  };
  /** Still waiting `ms` - 1 ms from now, done at `ms`. */
  const endsAfter = async (waited: { done: boolean }, ms: number) => {
    await vi.advanceTimersByTimeAsync(ms - 1);
    expect(waited.done).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(waited.done).toBe(true);
  };

  it('waits until its deadline', async () => {
    const deadline = new SendDeadline();
    await endsAfter(track(deadline.wait(performance.now() + 200)), 200);
  });

  it('ends sooner when a delta that may wait less brings it forward, never later', async () => {
    const deadline = new SendDeadline();
    const start = performance.now();
    const waited = track(deadline.wait(start + 200));
    await vi.advanceTimersByTimeAsync(50);
    deadline.bringForward(start + 500);
    deadline.bringForward(start + 70);
    deadline.bringForward(start + 150);
    await endsAfter(waited, 20);
  });

  it('ends at once for a deadline already past', async () => {
    const deadline = new SendDeadline();
    const waited = track(deadline.wait(performance.now() + 200));
    deadline.bringForward(performance.now() - 1);
    await vi.advanceTimersByTimeAsync(0);
    expect(waited.done).toBe(true);
    // Nothing waits now: a later wait is not ended by what came before it.
    deadline.bringForward(performance.now());
    await endsAfter(track(deadline.wait(performance.now() + 20)), 20);
  });
});
