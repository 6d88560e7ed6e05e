import { Module } from '@nestjs/common';
import { DeadLettersModule } from '../dead-letters/dead-letters.module.js';
import { LiveModule } from '../live/live.module.js';
import { SinkModule } from '../sink/sink.module.js';
import { PlayDecoder } from '../decode/play-decoder.js';
import { PlaysServer } from './plays-server.js';

/** Kafka → plays: the consumer transport, connected by main.ts as the app's microservice. */
@Module({
  imports: [SinkModule, DeadLettersModule, LiveModule],
  providers: [PlaysServer, PlayDecoder],
  exports: [PlaysServer],
})
export class ConsumerModule {}
