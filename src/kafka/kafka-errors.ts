import { errorText } from '../errors.js';

/**
 * What kind of Kafka failure: `authentication` (SASL refused: user, password or mechanism) and `tls`
 * (the broker's certificate is not trusted, or the handshake failed) are configuration problems that
 * no retry fixes; `connection` is a broker out of reach; `other` is anything else.
 */
export type KafkaFailureKind = 'authentication' | 'tls' | 'connection' | 'other';

export interface KafkaFailure {
  kind: KafkaFailureKind;
  /** One line for the log: what failed, with which broker and its error. Never holds a secret. */
  text: string;
  /**
   * The same for anyone to read (a readiness reason): what failed and what to check, in our own words;
   * never a broker's address nor the error's text.
   */
  summary: string;
}

// Node's codes for a certificate it will not trust (OpenSSL's verify errors).
const UNTRUSTED = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'CERT_SIGNATURE_FAILURE',
  'INVALID_CA',
]);
const EXPIRED = new Set(['CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID']);

interface ErrorLike {
  name?: string;
  message?: string;
  /** kafkajs' protocol errors: Kafka's error type (e.g. NOT_COORDINATOR). */
  type?: unknown;
  /** Node's error code (a string); kafkajs' protocol errors carry Kafka's numeric code here. */
  code?: unknown;
  broker?: string;
  cause?: unknown;
  originalError?: unknown;
}

/**
 * Recognises kafkajs' authentication and TLS failures in whatever wraps them (kafkajs nests the
 * first error under `cause` of KafkaJSNumberOfRetriesExceeded; Nest passes it on as is), for the
 * log line and the readiness reason. `brokers` names the bootstrap brokers when the error does not
 * say which broker answered (kafkajs' SASL errors do not).
 */
export function describeKafkaError(error: unknown, brokers: readonly string[]): KafkaFailure {
  const chain = causes(error);
  const brokerOf = (e: ErrorLike) => e.broker ?? chain.find((c) => c.broker)?.broker ?? brokers.join(',');

  const sasl = chain.find((e) => e.name === 'KafkaJSSASLAuthenticationError');
  if (sasl) {
    const check = '(check KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD)';
    return {
      kind: 'authentication',
      text: `authentication failed with broker ${brokerOf(sasl)} ${check}: ${sasl.message}`,
      summary: `kafka authentication failed ${check}`,
    };
  }
  for (const e of chain) {
    const problem = typeof e.code === 'string' ? tlsProblem(e.code) : null;
    if (problem !== null)
      return {
        kind: 'tls',
        text: `TLS with broker ${brokerOf(e)} failed: ${problem}: ${e.message}`,
        summary: `kafka TLS failed: ${problem}`,
      };
  }
  const connection = chain.find((e) => e.name?.startsWith('KafkaJSConnection'));
  if (connection) {
    return {
      kind: 'connection',
      text: `cannot reach broker ${brokerOf(connection)}: ${connection.message}`,
      summary: 'kafka unreachable',
    };
  }
  // The protocol error's type or the error's class: a category, not its message.
  const first = chain[0];
  const type = typeof first?.type === 'string' ? first.type : first?.name;
  return { kind: 'other', text: errorText(error), summary: `kafka error${type ? ` (${type})` : ''}` };
}

function tlsProblem(code: string): string | null {
  if (UNTRUSTED.has(code)) return 'certificate not trusted (check KAFKA_SSL_CA_FILE)';
  if (EXPIRED.has(code)) return 'certificate expired or not yet valid';
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') return 'certificate does not name this host';
  // The broker's alert when it wants a client certificate it did not get or does not trust (mutual TLS).
  if (/^ERR_SSL_.*ALERT_(BAD_CERTIFICATE|CERTIFICATE_REQUIRED|UNKNOWN_CA|CERTIFICATE_UNKNOWN)$/.test(code)) {
    return 'the broker refused the client certificate (check KAFKA_SSL_CERT_FILE and KAFKA_SSL_KEY_FILE)';
  }
  // Other OpenSSL alerts and protocol errors.
  if (code.startsWith('ERR_SSL_') || code === 'EPROTO') return 'TLS handshake refused';
  return null;
}

/** The error and what it wraps, outermost first. */
function causes(error: unknown): ErrorLike[] {
  const chain: ErrorLike[] = [];
  let current: unknown = error;
  while (typeof current === 'object' && current !== null && chain.length < 10) {
    const e = current as ErrorLike;
    chain.push(e);
    current = e.cause ?? e.originalError;
  }
  return chain;
}
