import { describeKafkaError } from './kafka-errors.js';

/**
 * What a Kafka error means for the service, looked up in one table: the consumer, its commits and the
 * dead-letter producer all act on the class, never on the error's text.
 *
 * - `too-large`: the broker refused a record batch for its size; the same request can never pass,
 *   so it is split, and a single record that is still too large is a configuration error.
 * - `permanent`: retrying cannot help until an operator changes something (a permission, a topic):
 *   reported once with what to change, then retried slowly so a fix is picked up without a restart.
 * - `rebalancing`: the group is moving partitions (this member's generation is over); stop the current
 *   batch work and let kafkajs rejoin. A coordinator that moved is not one: after a broker restart a
 *   commit meets NOT_COORDINATOR_FOR_GROUP while the member and its generation stand, and no rejoin
 *   follows, so it is transient (kafkajs refreshes the coordinator for the next try; a generation that
 *   did end says so there, as ILLEGAL_GENERATION or UNKNOWN_MEMBER_ID).
 * - `transient`: network, leader changes, timeouts: retried with backoff.
 */
export type KafkaFaultClass = 'too-large' | 'permanent' | 'rebalancing' | 'transient';

export interface KafkaFault {
  class: KafkaFaultClass;
  /** The protocol error type or error class it was recognised by (e.g. MESSAGE_TOO_LARGE). */
  reason: string;
  /** What an operator can change, for permanent faults. */
  fix?: string;
}

type Entry = { class: KafkaFaultClass; fix?: (topic: string) => string };

/** By kafkajs protocol error type (Kafka's error names) or kafkajs error class name. */
const TABLE: Record<string, Entry> = {
  MESSAGE_TOO_LARGE: { class: 'too-large', fix: (t) => `raise max.message.bytes on topic ${t}` },
  RECORD_LIST_TOO_LARGE: { class: 'too-large', fix: (t) => `raise max.message.bytes on topic ${t}` },
  TOPIC_AUTHORIZATION_FAILED: {
    class: 'permanent',
    fix: (t) => `grant this client's principal Write/Read (and Describe) on topic ${t}`,
  },
  GROUP_AUTHORIZATION_FAILED: { class: 'permanent', fix: () => `grant this client's principal Read on its group` },
  CLUSTER_AUTHORIZATION_FAILED: { class: 'permanent', fix: () => `grant this client's principal the cluster ACL` },
  SASL_AUTHENTICATION_FAILED: { class: 'permanent', fix: () => 'check KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD' },
  KafkaJSSASLAuthenticationError: {
    class: 'permanent',
    fix: () => 'check KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD',
  },
  UNKNOWN_TOPIC_OR_PARTITION: {
    class: 'permanent',
    fix: (t) => `create topic ${t}, or let the broker create topics (auto.create.topics.enable=true)`,
  },
  INVALID_TOPIC_EXCEPTION: { class: 'permanent', fix: (t) => `topic name ${t} is not valid for this broker` },
  POLICY_VIOLATION: { class: 'permanent', fix: (t) => `the broker's policy refuses writes to ${t}` },
  INVALID_RECORD: { class: 'permanent', fix: (t) => `the broker refuses these records for ${t} (its topic settings)` },
  UNSUPPORTED_VERSION: { class: 'permanent', fix: () => 'the broker does not speak a protocol version kafkajs needs' },
  REBALANCE_IN_PROGRESS: { class: 'rebalancing' },
  ILLEGAL_GENERATION: { class: 'rebalancing' },
  UNKNOWN_MEMBER_ID: { class: 'rebalancing' },
  FENCED_INSTANCE_ID: { class: 'rebalancing' },
};

interface KafkaishError {
  name?: string;
  type?: string;
  cause?: unknown;
  errors?: unknown[];
}

/** Every error in a kafkajs error's chain: kafkajs wraps the broker's answer in retry and aggregate errors. */
function* chain(error: unknown, depth = 0): Generator<KafkaishError> {
  if (typeof error !== 'object' || error === null || depth > 8) return;
  const e = error as KafkaishError;
  yield e;
  if (e.cause !== undefined && e.cause !== error) yield* chain(e.cause, depth + 1);
  if (Array.isArray(e.errors)) for (const inner of e.errors) yield* chain(inner, depth + 1);
}

/** Classifies a kafkajs error; `topic` names the topic in the fix text. Unknown errors are transient. */
export function classifyKafkaError(error: unknown, topic = 'the topic'): KafkaFault {
  // Refused credentials and untrusted certificates are told by Node's TLS codes and kafkajs' SASL error.
  const described = describeKafkaError(error, []);
  if (described.kind === 'authentication' || described.kind === 'tls') {
    return { class: 'permanent', reason: described.kind, fix: described.text };
  }
  for (const e of chain(error)) {
    for (const key of [e.type, e.name]) {
      const entry = key === undefined ? undefined : TABLE[key];
      if (entry !== undefined) return { class: entry.class, reason: key!, fix: entry.fix?.(topic) };
    }
  }
  const first = (typeof error === 'object' && error !== null ? error : {}) as KafkaishError;
  return { class: 'transient', reason: first.type ?? first.name ?? 'Error' };
}

/**
 * A fault for anyone to read (a readiness reason): what kind it is and, from the table above, what to
 * change; never a broker's address nor the error's text (those go to the log).
 */
export function faultSummary(error: unknown, fault: KafkaFault): string {
  const described = describeKafkaError(error, []);
  if (described.kind !== 'other') return described.summary;
  return `kafka error (${fault.reason})${fault.fix ? `; to fix: ${fault.fix}` : ''}`;
}
