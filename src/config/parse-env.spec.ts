import { deliveryOf } from './env.schema.js';
import { ConfigValidationError, parseEnv } from './parse-env.js';

const minimal = { BIGQUERY_PROJECT_ID: 'plays-local' };

function problemsOf(env: Record<string, string>): readonly string[] {
  try {
    parseEnv(env);
  } catch (error) {
    if (error instanceof ConfigValidationError) return error.problems;
    throw error;
  }
  throw new Error('expected a ConfigValidationError');
}

describe('parseEnv', () => {
  it('applies the documented defaults', () => {
    const env = parseEnv(minimal);
    expect(env).toMatchObject({
      PORT: 3000,
      LOG_LEVEL: 'info',
      KAFKA_BROKERS: ['127.0.0.1:9092'],
      KAFKA_TOPIC: 'tony-allen-plays',
      KAFKA_GROUP_ID: 'tony-allen-consumer',
      KAFKA_SSL: false,
      BIGQUERY_DATASET: 'music',
      BIGQUERY_TABLE: 'tony_allen_plays',
    });
    expect(env.KAFKA_SASL_MECHANISM).toBeUndefined();
    expect(env.BIGQUERY_API_ENDPOINT).toBeUndefined();
  });

  it("caps the bytes a dashboard query may bill by default, and takes a higher cap or BigQuery's 10 MiB minimum", () => {
    expect(parseEnv(minimal).DASHBOARD_MAX_BYTES_BILLED).toBe(1_073_741_824);
    expect(parseEnv({ ...minimal, DASHBOARD_MAX_BYTES_BILLED: '' }).DASHBOARD_MAX_BYTES_BILLED).toBe(1_073_741_824);
    expect(parseEnv({ ...minimal, DASHBOARD_MAX_BYTES_BILLED: '10485760' }).DASHBOARD_MAX_BYTES_BILLED).toBe(
      10_485_760,
    );
    const lifted = parseEnv({ ...minimal, DASHBOARD_MAX_BYTES_BILLED: String(Number.MAX_SAFE_INTEGER) });
    expect(lifted.DASHBOARD_MAX_BYTES_BILLED).toBe(Number.MAX_SAFE_INTEGER);
    expect(problemsOf({ ...minimal, DASHBOARD_MAX_BYTES_BILLED: '1000' })).toEqual([
      'DASHBOARD_MAX_BYTES_BILLED must be at least 10485760 (got "1000")',
    ]);
  });

  it('types numbers, booleans and lists', () => {
    const env = parseEnv({ ...minimal, PORT: '8080', KAFKA_SSL: 'true', KAFKA_BROKERS: 'a:1, b:2,,' });
    expect(env.PORT).toBe(8080);
    expect(env.KAFKA_SSL).toBe(true);
    expect(env.KAFKA_BROKERS).toEqual(['a:1', 'b:2']);
  });

  it('treats empty values as unset', () => {
    expect(parseEnv({ ...minimal, PORT: '', KAFKA_SASL_MECHANISM: '' }).PORT).toBe(3000);
  });

  it('names the missing required variable and its rule', () => {
    expect(problemsOf({})).toEqual([expect.stringMatching(/^BIGQUERY_PROJECT_ID is required/)]);
  });

  it('lists every bad variable at once, with the rule it broke', () => {
    const problems = problemsOf({
      PORT: '70000',
      LOG_LEVEL: 'loud',
      KAFKA_BROKERS: 'a, b:1',
      KAFKA_SSL: 'maybe',
      KAFKA_TOPIC: 'bad topic',
      BIGQUERY_API_ENDPOINT: 'ftp://x',
      BIGQUERY_PROJECT_ID: 'X',
    });
    expect(problems).toEqual(
      expect.arrayContaining([
        'PORT must be at most 65535 (got "70000")',
        expect.stringMatching(/^LOG_LEVEL must be one of/),
        expect.stringMatching(/^KAFKA_BROKERS each broker must be host:port/),
        'KAFKA_SSL must be true or false (got "maybe")',
        expect.stringMatching(/^KAFKA_TOPIC must be 1-249 characters/),
        expect.stringMatching(/^BIGQUERY_API_ENDPOINT must be an http\(s\) URL/),
        expect.stringMatching(/^BIGQUERY_PROJECT_ID must be a Google Cloud project id/),
      ]),
    );
    expect(problems).toHaveLength(7);
  });

  it('rejects a port that is not a number', () => {
    expect(problemsOf({ ...minimal, PORT: 'abc' })).toEqual(['PORT must be a whole number (got "abc")']);
  });

  it('refuses exactly-once with insert-all, which de-duplicates only best-effort', () => {
    expect(problemsOf({ ...minimal, SINK_API: 'insert-all', SINK_DELIVERY: 'exactly-once' })).toEqual([
      expect.stringMatching(/^SINK_DELIVERY exactly-once needs SINK_API=storage-write/),
    ]);
    expect(deliveryOf(parseEnv({ ...minimal, SINK_API: 'insert-all', SINK_DELIVERY: 'at-least-once' }))).toBe(
      'at-least-once',
    );
    expect(deliveryOf(parseEnv({ ...minimal, SINK_API: 'insert-all' }))).toBe('at-least-once');
    expect(deliveryOf(parseEnv({ ...minimal, SINK_API: 'storage-write', SINK_DELIVERY: 'exactly-once' }))).toBe(
      'exactly-once',
    );
  });

  it('requires SASL credentials with a mechanism and never echoes secrets', () => {
    const problems = problemsOf({ ...minimal, KAFKA_SASL_MECHANISM: 'scram-sha-512', KAFKA_SASL_PASSWORD: 's3cret' });
    expect(problems).toEqual(['KAFKA_SASL_USERNAME is required when KAFKA_SASL_MECHANISM is set']);
    const hidden = problemsOf({ ...minimal, GOOGLE_APPLICATION_CREDENTIALS: '   ' });
    expect(hidden.join()).not.toContain('   "');
    expect(hidden[0]).toMatch(/^GOOGLE_APPLICATION_CREDENTIALS .*\(value hidden\)$/);
  });
});
