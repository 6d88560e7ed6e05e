// The worker thread behind PlayDecoder (piscina loads this file by its URL).
import { Piscina } from 'piscina';
import { loadRowEncoding, type RowEncodingSource } from '../sink/writer.contract.js';
import { decodeBatch, type PackedBatch } from './play-batch.js';

// The chosen writer's row format, from where PlayDecoder says it is (a function cannot cross threads).
const { rowEncoding: source, plays } = Piscina.workerData as { rowEncoding: RowEncodingSource; plays: boolean };
const rowEncoding = await loadRowEncoding(source);

/** Decodes a batch and moves (not copies) the rows and their indexes back to the consumer thread. */
export default function decode(batch: PackedBatch): unknown {
  const decoded = decodeBatch(batch, rowEncoding, { plays });
  const buffers = [decoded.rows.buffer, decoded.rowEnds.buffer, decoded.rowMessages.buffer];
  if (decoded.plays !== null) buffers.push(decoded.plays.groups.buffer, decoded.plays.micros.buffer);
  const movable = {
    [Piscina.transferableSymbol]: buffers,
    [Piscina.valueSymbol]: decoded,
  };
  return Piscina.move(movable as unknown as Parameters<typeof Piscina.move>[0]);
}
