// The worker thread behind PlayDecoder (piscina loads this file by its URL).
import { Piscina } from 'piscina';
import type { RowEncoding } from '../sink/play-writer.js';
import { decodeBatch, type PackedBatch } from './play-batch.js';

// The chosen writer's row format, named by PlayDecoder (a function cannot cross threads; its module's URL can).
const { rowEncodingUrl } = Piscina.workerData as { rowEncodingUrl: string };
const { rowEncoding } = (await import(rowEncodingUrl)) as { rowEncoding: RowEncoding };

/** Decodes a batch and moves (not copies) the rows and their indexes back to the consumer thread. */
export default function decode(batch: PackedBatch): unknown {
  const decoded = decodeBatch(batch, rowEncoding);
  const movable = {
    [Piscina.transferableSymbol]: [decoded.rows.buffer, decoded.rowEnds.buffer, decoded.rowMessages.buffer],
    [Piscina.valueSymbol]: decoded,
  };
  return Piscina.move(movable as unknown as Parameters<typeof Piscina.move>[0]);
}
