import { Controller, NotFoundException, Sse, type MessageEvent } from '@nestjs/common';
import { map, type Observable } from 'rxjs';
import { LiveView } from '../live/live-view.js';

/** GET /api/live: Server-Sent Events, one per change of the live view (at most four a second). */
@Controller('api')
export class LiveUpdatesController {
  constructor(private readonly live: LiveView) {}

  /**
   * The current counts once the live view is rebuilt, then one event per change: a dashboard asks its
   * questions again on each (answered from memory). Every viewer shares one throttled upstream.
   */
  @Sse('live')
  updates(): Observable<MessageEvent> {
    if (!this.live.enabled)
      throw new NotFoundException('the live view is off (LIVE_ENABLED=false): poll /api/top-songs');
    return this.live.viewerUpdates().pipe(map((update) => ({ data: update })));
  }
}
