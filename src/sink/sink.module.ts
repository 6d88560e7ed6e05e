import { Module } from '@nestjs/common';
import { DeadLettersModule } from '../dead-letters/dead-letters.module.js';
import { BigQueryPlaySink } from './bigquery-play-sink.js';
import { PLAY_SINK } from './play-sink.js';
import { PlayTable } from './play-table.js';

/** Writes plays to BigQuery. Others depend on the PLAY_SINK token, not on BigQuery. */
@Module({
  imports: [DeadLettersModule],
  providers: [PlayTable, BigQueryPlaySink, { provide: PLAY_SINK, useExisting: BigQueryPlaySink }],
  exports: [PLAY_SINK, PlayTable],
})
export class SinkModule {}
