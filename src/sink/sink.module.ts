import { Module } from '@nestjs/common';
import { getToken } from '@willsoto/nestjs-prometheus';
import { AppConfig } from '../config/config.module.js';
import { DeadLettersModule } from '../dead-letters/dead-letters.module.js';
import { METRIC } from '../metrics/metrics.js';
import { BatchingPlaySink } from './batching/batching-play-sink.js';
import { PlayTable } from './play-table.js';
import { createWriter, rowEncodingOf } from './sink-apis.js';
import { PLAY_SINK, PLAY_WRITER, ROW_ENCODING } from './sink.tokens.js';

/**
 * Writes plays to BigQuery with the writer SINK_API names. Others depend on the PLAY_SINK token (and
 * the decoder on ROW_ENCODING, the chosen writer's row format), not on a writer.
 */
@Module({
  imports: [DeadLettersModule],
  providers: [
    PlayTable,
    {
      provide: PLAY_WRITER,
      useFactory: createWriter,
      inject: [AppConfig, PlayTable, getToken(METRIC.exactlyOnceFallbacks)],
    },
    { provide: ROW_ENCODING, useFactory: rowEncodingOf, inject: [AppConfig] },
    BatchingPlaySink,
    { provide: PLAY_SINK, useExisting: BatchingPlaySink },
  ],
  exports: [PLAY_SINK, PlayTable, ROW_ENCODING],
})
export class SinkModule {}
