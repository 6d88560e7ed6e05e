import kafkajs from 'kafkajs';
import { describeKafkaError } from './kafka-errors.js';

// The shapes kafkajs 2.2.4 produced against the SASL_SSL listener of `npm run deps:up` (see
// test/secure-kafka.int-spec.ts for the same against the real broker).
const { KafkaJSSASLAuthenticationError, KafkaJSNumberOfRetriesExceeded, KafkaJSConnectionError, KafkaJSProtocolError } =
  kafkajs;
// kafkajs' types declare this constructor without arguments; its source takes the message.
const SASLAuthenticationError = KafkaJSSASLAuthenticationError as unknown as new (message: string) => Error;
const brokers = ['127.0.0.1:9094'];
const retriesExceeded = (cause: Error) => new KafkaJSNumberOfRetriesExceeded(cause, { retryCount: 8, retryTime: 5000 });

describe('describeKafkaError', () => {
  it('says authentication failed, with the broker, for a SASL refusal', () => {
    const error = new SASLAuthenticationError(
      'SASL SCRAM SHA512 authentication failed: Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512',
    );
    const failure = describeKafkaError(error, brokers);
    expect(failure.kind).toBe('authentication');
    expect(failure.text).toMatch(
      /^authentication failed with broker 127\.0\.0\.1:9094 .*KAFKA_SASL_PASSWORD.*invalid credentials/,
    );
    expect(failure.summary).toBe(
      'kafka authentication failed (check KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD)',
    );
  });

  it('says the certificate is not trusted, with the broker that sent it, under kafkajs retries', () => {
    const cause = new KafkaJSConnectionError('Connection error: self-signed certificate in certificate chain', {
      broker: '10.0.0.7:9094',
      code: 'SELF_SIGNED_CERT_IN_CHAIN',
    });
    const failure = describeKafkaError(retriesExceeded(cause), brokers);
    expect(failure).toEqual({
      kind: 'tls',
      text: 'TLS with broker 10.0.0.7:9094 failed: certificate not trusted (check KAFKA_SSL_CA_FILE): Connection error: self-signed certificate in certificate chain',
      summary: 'kafka TLS failed: certificate not trusted (check KAFKA_SSL_CA_FILE)',
    });
  });

  it.each([
    ['UNABLE_TO_VERIFY_LEAF_SIGNATURE', /certificate not trusted/],
    ['CERT_HAS_EXPIRED', /certificate expired/],
    ['ERR_TLS_CERT_ALTNAME_INVALID', /does not name this host/],
    // Node's code when the broker of deps:up's mutual-TLS listener gets no client certificate.
    ['ERR_SSL_SSL/TLS_ALERT_BAD_CERTIFICATE', /broker refused the client certificate \(check KAFKA_SSL_CERT_FILE/],
    ['ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED', /broker refused the client certificate/],
    ['ERR_SSL_WRONG_VERSION_NUMBER', /handshake refused/],
  ])('recognises %s as a TLS failure', (code, text) => {
    const error = new KafkaJSConnectionError(`Connection error: ${code}`, { broker: 'b:1', code });
    const failure = describeKafkaError(error, brokers);
    expect(failure.kind).toBe('tls');
    expect(failure.text).toMatch(text);
    expect(failure.summary).toMatch(text);
    expect(failure.summary).not.toContain('b:1');
  });

  it('calls a refused or reset connection a connection failure, not a TLS one', () => {
    const cause = new KafkaJSConnectionError('Connection error: connect ECONNREFUSED 127.0.0.1:9094', {
      broker: '127.0.0.1:9094',
      code: 'ECONNREFUSED',
    });
    expect(describeKafkaError(retriesExceeded(cause), brokers)).toEqual({
      kind: 'connection',
      text: 'cannot reach broker 127.0.0.1:9094: Connection error: connect ECONNREFUSED 127.0.0.1:9094',
      summary: 'kafka unreachable',
    });
  });

  it('passes anything else through, including protocol errors with numeric codes', () => {
    const protocol = new KafkaJSProtocolError({
      message: 'Not coordinator',
      type: 'NOT_COORDINATOR',
      code: 16,
    } as never);
    expect(describeKafkaError(protocol, brokers)).toEqual({
      kind: 'other',
      text: 'Not coordinator',
      summary: 'kafka error (NOT_COORDINATOR)',
    });
    expect(describeKafkaError('boom', brokers)).toEqual({ kind: 'other', text: 'boom', summary: 'kafka error' });
  });
});
