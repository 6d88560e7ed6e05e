import { envSchema, SECRET_VARIABLES, type Env } from './env.schema.js';

/** Thrown when the environment does not satisfy the schema; lists every bad variable at once. */
export class ConfigValidationError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(
      `Invalid configuration (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n${problems.map((p) => `  - ${p}`).join('\n')}`,
    );
    this.name = 'ConfigValidationError';
  }
}

/**
 * Validates and types the environment. Empty values count as unset, so `FOO=` in a compose
 * file falls back to the default instead of failing a rule.
 */
export function parseEnv(raw: Record<string, string | undefined>): Env {
  const present = Object.fromEntries(Object.entries(raw).filter(([, value]) => value !== undefined && value !== ''));
  const result = envSchema.safeParse(present);
  if (result.success) return result.data;

  const problems = result.error.issues.map((issue) => {
    const variable = String(issue.path[0] ?? '(environment)');
    const value = present[variable];
    const shown =
      value === undefined
        ? ''
        : SECRET_VARIABLES.has(variable as keyof Env)
          ? ' (value hidden)'
          : ` (got ${JSON.stringify(value)})`;
    return `${variable} ${issue.message}${shown}`;
  });
  throw new ConfigValidationError(problems);
}
