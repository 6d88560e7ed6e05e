import { topic } from './env-fields.js';

/** Where the messages that cannot become rows go. */
export const deadLetterEnv = {
  KAFKA_DLQ_TOPIC: topic('tony-allen-plays.dlq').describe(
    'Dead-letter topic: messages that are not valid plays, or that BigQuery rejected, byte for byte with reason headers.',
  ),
};
