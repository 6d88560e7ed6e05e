import { parseBenchFlags } from '../bench/bench-flags.js';

describe("npm run bench's flags", () => {
  it('gives each its default, as numbers', () => {
    const flags = parseBenchFlags([]);
    expect(flags).toMatchObject({
      plays: 200_000,
      repeat: 3,
      'live-pairs': 4,
      'round-trip-ms': 75,
      'kafka-port': 39_092,
    });
    expect(flags.only).toBeUndefined();
    expect(flags['service-env']).toBe('');
  });

  it('takes whole numbers in range, a round trip of 0 and a known section', () => {
    const flags = parseBenchFlags(['--plays', '1000000', '--repeat=20', '--round-trip-ms', '0', '--only', 'live']);
    expect(flags).toMatchObject({ plays: 1_000_000, repeat: 20, 'round-trip-ms': 0, only: 'live' });
  });

  it.each([
    [['--live-pairs', '0'], '--live-pairs "0": must be at least 1'],
    [['--repeat', 'three'], '--repeat "three": must be a whole number'],
    [['--plays', '1.5'], '--plays "1.5": must be a whole number'],
    [['--round-trip-ms=-1'], '--round-trip-ms "-1": must be at least 0'],
    [['--kafka-port', '70000'], '--kafka-port "70000": must be at most 65535'],
    [['--emulator-port', '65530'], '--emulator-port "65530": must be at most 65525'],
    [['--only', 'latency'], `--only "latency": only 'memory', 'drains' and 'live' are known`],
  ])('refuses %j, saying which flag and what it must be', (args, message) => {
    expect(() => parseBenchFlags(args)).toThrow(message);
  });

  it('names every bad flag at once, and refuses one it does not know', () => {
    expect(() => parseBenchFlags(['--repeat', '0', '--live-pairs', 'x'])).toThrow(
      '--repeat "0": must be at least 1; --live-pairs "x": must be a whole number',
    );
    expect(() => parseBenchFlags(['--pairs', '4'])).toThrow(/--pairs/);
  });
});
