// Baseline A, the ceiling: a bare kafkajs consumer with eachBatch that decodes and validates each play
// and counts it, nothing else. A fresh process each run, like the service it is compared with, so
// neither starts with code the JIT has already warmed. Prints one JSON line: the valid plays and the
// milliseconds from its group join to its last play.
//   node dist-bench/bench/bare-consumer.js   (BENCH_BROKERS, BENCH_TOPIC, BENCH_GROUP, BENCH_COUNT)
import kafkajs from 'kafkajs';
import { decodePlay } from '../src/plays/play.js';

const { BENCH_BROKERS = '', BENCH_TOPIC = '', BENCH_GROUP = '', BENCH_COUNT = '0' } = process.env;
const count = Number(BENCH_COUNT);
const kafka = new kafkajs.Kafka({
  clientId: 'bare-consumer',
  brokers: BENCH_BROKERS.split(','),
  logLevel: kafkajs.logLevel.NOTHING,
});
const consumer = kafka.consumer({ groupId: BENCH_GROUP });
await consumer.connect();
await consumer.subscribe({ topics: [BENCH_TOPIC], fromBeginning: true });
let joinedAt = 0;
consumer.on(consumer.events.GROUP_JOIN, () => (joinedAt = Date.now()));
let valid = 0;
let seen = 0;
const finishedAt = await new Promise<number>((resolve) => {
  void consumer.run({
    eachBatch: ({ batch }) => {
      for (const message of batch.messages) if (decodePlay(message.value, Number(message.timestamp)).ok) valid++;
      seen += batch.messages.length;
      if (seen >= count) resolve(Date.now());
      return Promise.resolve();
    },
  });
});
await consumer.disconnect();
console.log(JSON.stringify({ valid, ms: finishedAt - joinedAt }));
