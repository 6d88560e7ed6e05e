import { KafkaStartRetry } from './kafka-start-retry.js';

const refused = () => Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9092'), { code: 'ECONNREFUSED' });
const other = () => new Error('something else');

describe('KafkaStartRetry', () => {
  it('says a reason once, again when it changes and every tenth try, waiting 1 s doubling to 30 s', () => {
    const retry = new KafkaStartRetry(['127.0.0.1:9092']);
    const tries = Array.from({ length: 12 }, (_, i) => retry.failed(i === 5 ? other() : refused()));
    expect(tries.map((t) => t.log !== null)).toEqual([
      true,
      false,
      false,
      false,
      false,
      true,
      true,
      false,
      false,
      false,
      true,
      false,
    ]);
    expect(tries.map((t) => t.attempt)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    // Jittered: half to all of each.
    const full = [1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000, 30_000, 30_000, 30_000, 30_000];
    tries.forEach((t, i) => {
      expect(t.delayMs).toBeGreaterThanOrEqual(full[i]! / 2);
      expect(t.delayMs).toBeLessThanOrEqual(full[i]!);
    });
  });
});
