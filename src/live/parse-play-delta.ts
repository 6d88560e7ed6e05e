import { z } from 'zod';
import { MAX_DELTA_MESSAGES, type PlayDelta } from './play-delta.js';

// Not in play-delta.ts: only the live view parses deltas, and zod would cost each decoder thread,
// which imports play-delta.ts to build them, some 15 MB of memory.

const offset = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

const deltaKey = z.tuple([
  z
    .number()
    .int()
    .refine((minute) => minute % 60 === 0, { error: 'a minute must be a multiple of 60 seconds' }),
  z.string(),
  z.string(),
  z.number().int({ error: 'a timestamp must be whole microseconds' }),
]);

const playDeltaSchema = z
  .object({
    v: z.literal(1, { error: 'v must be 1 (this replica reads version 1 deltas only)' }),
    topic: z.string().min(1),
    partition: z.number().int().min(0),
    from: offset,
    // Each entry is checked below, in one loop: zod's check of each element was 15 times the cost of
    // JSON.parse of the delta (a message's share of a delta is 2 bytes, and a replica reads them all).
    groups: z
      .custom<number[]>((value) => Array.isArray(value), { error: 'groups must be an array of key indices' })
      .superRefine((groups, ctx) => {
        if (groups.length === 0) ctx.addIssue({ code: 'custom', message: 'groups must cover at least one message' });
        if (groups.length > MAX_DELTA_MESSAGES)
          ctx.addIssue({ code: 'custom', message: `groups may cover at most ${MAX_DELTA_MESSAGES} messages` });
      }),
    keys: z.array(deltaKey).max(MAX_DELTA_MESSAGES),
  })
  .superRefine((delta, ctx) => {
    if (delta.from + delta.groups.length > Number.MAX_SAFE_INTEGER) {
      ctx.addIssue({ code: 'custom', path: ['groups'], message: 'the offsets covered pass 2^53 - 1' });
    }
    const keys = delta.keys.length;
    const bad = delta.groups.findIndex((group) => !Number.isInteger(group) || group < -1 || group >= keys);
    if (bad >= 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['groups', bad],
        message: `group ${delta.groups[bad]} is not -1 (no play) nor a key index (the delta has ${keys} keys)`,
      });
    }
  });

/** A delta that is not one; its message names every problem. */
export class BadPlayDelta extends Error {}

/** Validates a decoded delta (JSON.parse of the message value). */
export function parsePlayDelta(value: unknown): PlayDelta {
  const parsed = playDeltaSchema.safeParse(value);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => {
      const where = issue.path.length > 0 ? `${issue.path.join('.')}: ` : '';
      return `${where}${issue.message}`;
    });
    throw new BadPlayDelta(`not a play delta: ${problems.join('; ')}`);
  }
  return parsed.data;
}
