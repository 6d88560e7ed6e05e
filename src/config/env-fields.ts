import { z } from 'zod';

// The field builders every area's variables are made of: each checks a value and says, in our words,
// what it must be.

export const bool = (fallback: boolean) => z.stringbool({ error: 'must be true or false' }).default(fallback);

export const int = (min: number, max: number, fallback: number) =>
  z.coerce
    .number({ error: 'must be a whole number' })
    .int({ error: 'must be a whole number' })
    .min(min, { error: `must be at least ${min}` })
    .max(max, { error: `must be at most ${max}` })
    .default(fallback);

export const name = (fallback: string, pattern: RegExp, rule: string) =>
  z.string().trim().regex(pattern, { error: rule }).default(fallback);

// Kafka topic names: 1..249 chars of [a-zA-Z0-9._-].
export const topic = (fallback: string) =>
  name(fallback, /^[a-zA-Z0-9._-]{1,249}$/, 'must be 1-249 characters of letters, digits, ".", "_" or "-"');

/** A comma-separated list: items trimmed, empty ones dropped, then each checked by `item`. */
export const commaList = (item: z.ZodString, empty: string) =>
  z
    .string()
    .transform((value) =>
      value
        .split(',')
        .map((entry) => entry.trim())
        .filter((entry) => entry.length > 0),
    )
    .pipe(z.array(item).min(1, { error: empty }));

/**
 * `optional` drops a helper's default (its fallback argument is unused), so an unset variable stays
 * undefined and the code resolves it (e.g. SIMULATOR_TOPIC falls back to KAFKA_TOPIC).
 */
export const optional = <T extends z.ZodType>(withDefault: z.ZodDefault<T>) => withDefault.unwrap().optional();
