// Baseline C: the original design on NestJS' defaults. ServerKafka's eachMessage handler awaits one
// insertAll per play (one HTTP request a row), as the original consumer did. Run as a child process:
//   node dist-bench/bench/original-design.js   (BENCH_BROKERS, BENCH_TOPIC, BENCH_GROUP, BENCH_ENDPOINT)
import 'reflect-metadata';
import { Controller, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Ctx, EventPattern, KafkaContext, Payload, Transport, type MicroserviceOptions } from '@nestjs/microservices';
import { createBigQuery } from '../src/bigquery/create-bigquery.js';
import { decodePlay } from '../src/plays/play.js';

const { BENCH_BROKERS = '', BENCH_TOPIC = '', BENCH_GROUP = '', BENCH_ENDPOINT = '' } = process.env;
const table = createBigQuery({
  BIGQUERY_PROJECT_ID: 'plays-bench',
  BIGQUERY_API_ENDPOINT: BENCH_ENDPOINT,
  BIGQUERY_LOCATION: undefined,
  GOOGLE_APPLICATION_CREDENTIALS: undefined,
})
  .dataset('music')
  .table('plays');

@Controller()
class PlaysController {
  @EventPattern(BENCH_TOPIC)
  async onPlay(@Payload() value: object, @Ctx() ctx: unknown): Promise<void> {
    const context = ctx as KafkaContext;
    const message = context.getMessage();
    // NestJS has already parsed the JSON value; validate it the same way the pipeline does.
    const decoded = decodePlay(Buffer.from(JSON.stringify(value)), Number(message.timestamp));
    if (!decoded.ok) return;
    const insertId = `${context.getTopic()}/${context.getPartition()}/${message.offset}`;
    await table.insert([{ insertId, json: decoded.play }], { raw: true });
  }
}

@Module({ controllers: [PlaysController] })
class OriginalModule {}

const app = await NestFactory.createMicroservice<MicroserviceOptions>(OriginalModule, {
  logger: ['error'],
  transport: Transport.KAFKA,
  options: {
    postfixId: '',
    client: { clientId: 'original-design', brokers: BENCH_BROKERS.split(',') },
    consumer: { groupId: BENCH_GROUP },
    subscribe: { fromBeginning: true },
  },
});
await app.listen();
console.log('joined group');
