import { type MessageEvent } from '@nestjs/common';
import { Subject } from 'rxjs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { LiveUpdate } from '../live/live-view-state.js';
import type { LiveView } from '../live/live-view.js';
import { KEEP_ALIVE_MS, LiveUpdatesController } from './live-updates.controller.js';

const liveView = (enabled: boolean, updates = new Subject<LiveUpdate>()) =>
  ({ enabled, viewerUpdates: () => updates.asObservable() }) as unknown as LiveView;

const update: LiveUpdate = { plays: 1, newest_play_at: null, at: '2026-12-05T00:00:00.000Z' };

describe('LiveUpdatesController (/api/live)', () => {
  afterEach(() => vi.useRealTimers());

  it('answers 404 when the live view is off', () => {
    expect(() => new LiveUpdatesController(liveView(false)).updates()).toThrow(/LIVE_ENABLED=false/);
  });

  it('sends each update as data, a keep-alive comment when idle, and ends every stream before shutdown', () => {
    vi.useFakeTimers();
    const updates = new Subject<LiveUpdate>();
    const controller = new LiveUpdatesController(liveView(true, updates));
    const seen: MessageEvent[] = [];
    let ended = 0;
    for (let viewer = 0; viewer < 2; viewer++)
      controller.updates().subscribe({ next: (e) => seen.push(e), complete: () => ended++ });

    updates.next(update);
    expect(seen).toEqual([{ data: update }, { data: update }]);
    vi.advanceTimersByTime(KEEP_ALIVE_MS);
    expect(seen.slice(2)).toEqual([{ comment: 'keep-alive' }, { comment: 'keep-alive' }]);

    controller.beforeApplicationShutdown();
    expect(ended).toBe(2);
    // A viewer arriving during shutdown is ended at once too.
    controller.updates().subscribe({ complete: () => ended++ });
    expect(ended).toBe(3);
  });
});
