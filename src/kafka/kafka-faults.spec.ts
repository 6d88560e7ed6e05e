import kafkajs from 'kafkajs';
import { classifyKafkaError } from './kafka-faults.js';

const { KafkaJSProtocolError, KafkaJSNonRetriableError, KafkaJSNumberOfRetriesExceeded, KafkaJSConnectionError } =
  kafkajs;

/** A broker's answer as kafkajs raises it. */
const protocol = (type: string) =>
  new KafkaJSProtocolError({ type, message: `broker said ${type}`, retriable: false } as unknown as Error);

describe('classifyKafkaError: the table', () => {
  it.each([
    ['MESSAGE_TOO_LARGE', 'too-large'],
    ['RECORD_LIST_TOO_LARGE', 'too-large'],
    ['TOPIC_AUTHORIZATION_FAILED', 'permanent'],
    ['GROUP_AUTHORIZATION_FAILED', 'permanent'],
    ['CLUSTER_AUTHORIZATION_FAILED', 'permanent'],
    ['SASL_AUTHENTICATION_FAILED', 'permanent'],
    ['UNKNOWN_TOPIC_OR_PARTITION', 'permanent'],
    ['POLICY_VIOLATION', 'permanent'],
    ['REBALANCE_IN_PROGRESS', 'rebalancing'],
    ['ILLEGAL_GENERATION', 'rebalancing'],
    ['NOT_COORDINATOR_FOR_GROUP', 'transient'],
    ['COORDINATOR_LOAD_IN_PROGRESS', 'transient'],
    ['COORDINATOR_NOT_AVAILABLE', 'transient'],
    ['UNKNOWN_MEMBER_ID', 'rebalancing'],
    ['NOT_LEADER_FOR_PARTITION', 'transient'],
    ['LEADER_NOT_AVAILABLE', 'transient'],
    ['REQUEST_TIMED_OUT', 'transient'],
    ['NOT_ENOUGH_REPLICAS', 'transient'],
  ])('%s is %s', (type, expected) => {
    const fault = classifyKafkaError(protocol(type), 'plays.dlq');
    expect(fault.class).toBe(expected);
    expect(fault.reason).toBe(type);
  });

  it('sees through kafkajs retry and non-retriable wrappers', () => {
    const tooLarge = protocol('MESSAGE_TOO_LARGE');
    // As kafkajs' retrier bails out: a non-retriable error caused by the broker's (typings omit the cause).
    const NonRetriable = KafkaJSNonRetriableError as unknown as new (e: Error, o: object) => Error;
    const wrapped = new NonRetriable(tooLarge, { cause: tooLarge });
    expect(classifyKafkaError(wrapped).class).toBe('too-large');
    const denied = protocol('TOPIC_AUTHORIZATION_FAILED');
    // kafkajs' typings omit the second argument its constructor takes.
    const Exhausted = KafkaJSNumberOfRetriesExceeded as unknown as new (e: Error, o: object) => Error;
    const exhausted = new Exhausted(denied, { retryCount: 5, retryTime: 1000 });
    expect(classifyKafkaError(exhausted).class).toBe('permanent');
  });

  it('sees inside aggregate errors', () => {
    const aggregate = Object.assign(new Error('several'), { errors: [new Error('x'), protocol('MESSAGE_TOO_LARGE')] });
    expect(classifyKafkaError(aggregate).class).toBe('too-large');
  });

  it('names the topic and the setting to change for permanent and size faults', () => {
    expect(classifyKafkaError(protocol('MESSAGE_TOO_LARGE'), 'plays.dlq').fix).toBe(
      'raise max.message.bytes on topic plays.dlq',
    );
    expect(classifyKafkaError(protocol('TOPIC_AUTHORIZATION_FAILED'), 'plays.dlq').fix).toContain('topic plays.dlq');
    expect(classifyKafkaError(protocol('UNKNOWN_TOPIC_OR_PARTITION'), 'plays.dlq').fix).toContain(
      'auto.create.topics.enable',
    );
  });

  it('treats network errors and anything unknown as transient', () => {
    expect(classifyKafkaError(new KafkaJSConnectionError('Connection error: ECONNREFUSED')).class).toBe('transient');
    expect(classifyKafkaError(new Error('something else'))).toEqual({ class: 'transient', reason: 'Error' });
    expect(classifyKafkaError('a string').class).toBe('transient');
    expect(classifyKafkaError(undefined).class).toBe('transient');
  });

  it('does not loop on an error that causes itself', () => {
    const error = new Error('loop') as Error & { cause?: unknown };
    error.cause = error;
    expect(classifyKafkaError(error).class).toBe('transient');
  });
});
