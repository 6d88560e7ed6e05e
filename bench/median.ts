/** The middle value (the upper one of an even count), as every figure of the benchmark reports it. */
export const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
