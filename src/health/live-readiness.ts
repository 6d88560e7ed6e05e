import { Injectable } from '@nestjs/common';
import { HealthIndicatorService, type HealthIndicatorResult } from '@nestjs/terminus';
import { LiveView } from '../live/live-view.js';

/** Readiness of the live view: rebuilt from its topic and reading it (else BigQuery answers, dearer and slower). */
@Injectable()
export class LiveReadiness {
  constructor(
    private readonly indicators: HealthIndicatorService,
    private readonly live: LiveView,
  ) {}

  checks(): (() => HealthIndicatorResult)[] {
    return [
      () => {
        const check = this.indicators.check('live_view');
        const state = this.live.state();
        const entries = this.live.tally.entries;
        switch (state.status) {
          case 'off':
            return check.up({ entries });
          case 'live':
            // Live partitions only this replica publishes to: counted on acknowledgement, not fetched.
            return check.up({ entries, own_partitions_not_fetched: this.live.ownDeltas?.paused ?? [] });
          case 'rebuilding':
            return check.down({ reason: `live view rebuilding: ${state.detail}`, entries });
          case 'behind':
            return check.down({ reason: `live view behind: ${state.detail}`, entries });
        }
      },
    ];
  }
}
