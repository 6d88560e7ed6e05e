import { Inject, Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import { Piscina } from 'piscina';
import { AppConfig } from '../config/config.module.js';
import { errorText } from '../errors.js';
import { ROW_ENCODING } from '../sink/sink.tokens.js';
import { loadRowEncoding, type RowEncoding, type RowEncodingSource } from '../sink/writer.contract.js';
import { decodeBatch, type DecodedBatch, type PackedBatch } from './play-batch.js';

/**
 * Decodes batches of messages into rows on INGEST_DECODE_THREADS worker threads (a piscina pool),
 * so the consumer's thread keeps fetching while plays are parsed, validated and encoded: on a
 * 2-core machine this roughly doubles the drain rate. With 0 threads it decodes in place. Rows are
 * in the chosen writer's format: the sink module says where its RowEncoding is (ROW_ENCODING).
 */
@Injectable()
export class PlayDecoder implements OnApplicationShutdown {
  private readonly logger = new Logger(PlayDecoder.name);
  private readonly pool: Piscina<PackedBatch, DecodedBatch> | null;
  private encoding: Promise<RowEncoding> | null = null;
  /** Whether each batch's plays are counted for the live view too (see BatchPlays). */
  private readonly plays: boolean;

  constructor(
    config: AppConfig,
    @Inject(ROW_ENCODING) private readonly rowEncodingSource: RowEncodingSource,
  ) {
    this.plays = config.LIVE_ENABLED;
    this.pool =
      config.INGEST_DECODE_THREADS === 0
        ? null
        : new Piscina({
            filename: new URL('./play-decoder.worker.js', import.meta.url).href,
            minThreads: config.INGEST_DECODE_THREADS,
            maxThreads: config.INGEST_DECODE_THREADS,
            idleTimeout: Number.POSITIVE_INFINITY,
            workerData: { rowEncoding: rowEncodingSource, plays: this.plays },
          });
  }

  async decode(batch: PackedBatch): Promise<DecodedBatch> {
    if (this.pool === null) return decodeBatch(batch, await this.rowEncoding(), { plays: this.plays });
    try {
      return await this.pool.run(batch);
    } catch (error) {
      // A worker that died (or failed to load) must not cost a batch: decode it here instead.
      this.logger.error(`decoding on a worker thread failed (${errorText(error)}); decoding in place`);
      return decodeBatch(batch, await this.rowEncoding(), { plays: this.plays });
    }
  }

  private rowEncoding(): Promise<RowEncoding> {
    this.encoding ??= loadRowEncoding(this.rowEncodingSource);
    return this.encoding;
  }

  async onApplicationShutdown(): Promise<void> {
    await this.pool?.destroy();
  }
}
