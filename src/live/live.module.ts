import { Module } from '@nestjs/common';
import { LiveDeltas } from './live-deltas.js';
import { LiveView } from './live-view.js';

/**
 * The live view of the top songs: the ingest publishes a delta per written batch (LiveDeltas); the
 * dashboard reads them all back into memory (LiveView). Both do nothing unless LIVE_ENABLED.
 */
@Module({ providers: [LiveDeltas, LiveView], exports: [LiveDeltas, LiveView] })
export class LiveModule {}
