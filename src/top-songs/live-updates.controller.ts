import { type BeforeApplicationShutdown, Controller, NotFoundException, Sse, type MessageEvent } from '@nestjs/common';
import { ReplaySubject, interval, map, merge, takeUntil, type Observable } from 'rxjs';
import { LiveView } from '../live/live-view.js';

/** A comment this often keeps an idle stream open through proxies that cut silent connections (often at 30–60 s). */
export const KEEP_ALIVE_MS = 15_000;

/** GET /api/live: Server-Sent Events, one per change of the live view (at most four a second). */
@Controller('api')
export class LiveUpdatesController implements BeforeApplicationShutdown {
  private readonly shuttingDown = new ReplaySubject<void>(1);

  constructor(private readonly live: LiveView) {}

  /**
   * The current counts once the live view is rebuilt, then one event per change: a dashboard asks its
   * questions again on each (answered from memory). Every viewer shares one throttled upstream.
   */
  @Sse('live')
  updates(): Observable<MessageEvent> {
    if (!this.live.enabled)
      throw new NotFoundException('the live view is off (LIVE_ENABLED=false): poll /api/top-songs');
    return merge(
      this.live.viewerUpdates().pipe(map((update): MessageEvent => ({ data: update }))),
      interval(KEEP_ALIVE_MS).pipe(map((): MessageEvent => ({ comment: 'keep-alive' }))),
    ).pipe(takeUntil(this.shuttingDown));
  }

  /**
   * Ends every open stream before the HTTP server closes: the server waits for its connections, so
   * one open dashboard would otherwise hold a SIGTERM until the orchestrator's SIGKILL. EventSource
   * reconnects by itself, to another replica.
   */
  beforeApplicationShutdown(): void {
    this.shuttingDown.next();
  }
}
