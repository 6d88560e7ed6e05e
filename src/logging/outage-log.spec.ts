import { Logger } from '@nestjs/common';
import { OutageLog } from './outage-log.js';

function logged() {
  const logger = new Logger('test');
  const lines: { level: string; text: string }[] = [];
  for (const level of ['log', 'warn', 'error'] as const) {
    vi.spyOn(logger, level).mockImplementation((text: unknown) => void lines.push({ level, text: String(text) }));
  }
  return { logger, lines };
}

describe('OutageLog', () => {
  it('logs the start of an outage, every tenth failure and its end, not every retry', () => {
    const { logger, lines } = logged();
    const outage = new OutageLog(logger, 'writing dead letters');
    for (let i = 0; i < 25; i++) outage.failed('ECONNREFUSED', 'KafkaJSConnectionError');
    expect(outage.failingSince).not.toBeNull();
    expect(lines.map((l) => l.level)).toEqual(['warn', 'warn', 'warn']);
    expect(lines[0]!.text).toContain('writing dead letters failed: ECONNREFUSED');
    expect(lines[1]!.text).toContain('after 10 attempts');
    expect(lines[2]!.text).toContain('after 20 attempts');
    outage.succeeded();
    expect(lines[3]).toMatchObject({ level: 'log' });
    expect(lines[3]!.text).toContain('works again after 25 failed attempts');
    expect(outage.failingSince).toBeNull();
    outage.succeeded();
    expect(lines).toHaveLength(4);
  });

  it('logs a permanent fault once as an error with what to change, and a new reason at once', () => {
    const { logger, lines } = logged();
    const outage = new OutageLog(logger, 'writing dead letters');
    outage.failed('denied', 'TOPIC_AUTHORIZATION_FAILED', 'grant Write on topic x');
    outage.failed('denied', 'TOPIC_AUTHORIZATION_FAILED', 'grant Write on topic x');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 'error' });
    expect(lines[0]!.text).toContain('grant Write on topic x');
    outage.failed('refused', 'KafkaJSConnectionError');
    expect(lines).toHaveLength(2);
    expect(lines[1]!.text).toContain('refused');
  });
});
