/** The benchmark's progress line, on stderr (stdout carries the figures). */
export const say = (message: string) => process.stderr.write(`bench: ${message}\n`);
