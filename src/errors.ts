/** The message of something thrown, for a log line or a health reason. */
export function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
