/** Lets tests give DeadLetters a topic of their own (a fake); the service uses Kafka. */
export const DEAD_LETTER_TOPIC = Symbol('DEAD_LETTER_TOPIC');
