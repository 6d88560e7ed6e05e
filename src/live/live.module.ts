import { Module } from '@nestjs/common';
import { LiveDeltas } from './live-deltas.js';

/** The live view of the top songs (being built): for now, the deltas the ingest publishes as batches are written. */
@Module({ providers: [LiveDeltas], exports: [LiveDeltas] })
export class LiveModule {}
