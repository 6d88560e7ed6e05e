import { Module } from '@nestjs/common';
import { DeadLetters } from './dead-letters.service.js';

/** The dead-letter topic's producer, shared by the ingest (bad messages) and the sink (rows BigQuery rejects). */
@Module({ providers: [DeadLetters], exports: [DeadLetters] })
export class DeadLettersModule {}
