// The worker thread behind PlayDecoder (piscina loads this file by its URL).
import { Piscina } from 'piscina';
import { decodeBatch, type PackedBatch } from './play-batch.js';

/** Decodes a batch and moves (not copies) the rows and their indexes back to the consumer thread. */
export default function decode(batch: PackedBatch): unknown {
  const decoded = decodeBatch(batch);
  const movable = {
    [Piscina.transferableSymbol]: [decoded.rows.buffer, decoded.rowEnds.buffer, decoded.rowMessages.buffer],
    [Piscina.valueSymbol]: decoded,
  };
  return Piscina.move(movable as unknown as Parameters<typeof Piscina.move>[0]);
}
