import { credentials } from '@grpc/grpc-js';
import { PassThroughClient } from 'google-auth-library';
import type { Env } from '../../config/env.schema.js';
import { errorText } from '../../errors.js';
import { GRPC, grpcCodeOf, storageWriteAction, storageWriteRowAction } from './storage-write-faults.js';
import { WriteFault, type AppendResult, type PlayWriter, type RowOutcome, unwrittenRow } from '../writer.contract.js';
import { forEachRow, rowOf, type Segment } from '../rows.js';
import { AppendConnection } from './append-connection.js';
import { BigQueryWriteClient } from './client-parts.js';
import { PLAY_ROW_DESCRIPTOR } from './play-row-descriptor.js';

/** google.cloud.bigquery.storage.v1.RowError.RowErrorCode, by number. */
const ROW_ERROR_CODES: Record<number, string> = { 0: 'ROW_ERROR_CODE_UNSPECIFIED', 1: 'FIELDS_ERROR' };
/** An append BigQuery does not answer within this is failed, and written again on a new connection. */
const APPEND_TIMEOUT_MS = 60_000;

export type WriteClientSettings = Pick<
  Env,
  'BIGQUERY_PROJECT_ID' | 'BIGQUERY_STORAGE_API_ENDPOINT' | 'GOOGLE_APPLICATION_CREDENTIALS'
>;

/**
 * The generated (GA) `BigQueryWriteClient` of @google-cloud/bigquery-storage, for real BigQuery (TLS,
 * Application Default Credentials or the key file) or an emulator's plain gRPC port (no credentials).
 *
 * Why not the package's managed writer (`managedwriter`: WriterClient, StreamConnection, JSONWriter):
 * it is marked EXPERIMENTAL; it has no flow control; its in-band retries are off by default and,
 * when on, send the failed write again behind the writes already in flight
 * (StreamConnection.handleRetry takes the oldest pending write, the one answered, and send() queues
 * it as the newest), which reorders appends; and its open issues (#561 "write after a stream was
 * destroyed", #577 "No connection established") are in exactly the paths an outage takes. The
 * batcher already owns batching, in-flight limits and retries, so all we need is an ordered bidi
 * stream (AppendConnection, ~100 lines) on the stable surface.
 */
export function createWriteClient(settings: WriteClientSettings): BigQueryWriteClient {
  const endpoint = settings.BIGQUERY_STORAGE_API_ENDPOINT;
  if (endpoint) {
    const at = endpoint.lastIndexOf(':');
    return new BigQueryWriteClient({
      projectId: settings.BIGQUERY_PROJECT_ID,
      apiEndpoint: endpoint.slice(0, at),
      port: Number(endpoint.slice(at + 1)),
      sslCreds: credentials.createInsecure(),
      authClient: new PassThroughClient() as never,
    });
  }
  return new BigQueryWriteClient({
    projectId: settings.BIGQUERY_PROJECT_ID,
    keyFilename: settings.GOOGLE_APPLICATION_CREDENTIALS,
  });
}

/** The table as the Write API names it: the parent of its write streams. */
export const tablePathOf = (project: string, dataset: string, table: string): string =>
  `projects/${project}/datasets/${dataset}/tables/${table}`;

/** The table's default stream: rows visible at once, at-least-once, no offsets, shared by every writer. */
export const defaultStreamOf = (project: string, dataset: string, table: string): string =>
  `${tablePathOf(project, dataset, table)}/streams/_default`;

/**
 * Writes with the Storage Write API: protobuf rows (encoded on the decoder thread) appended to the
 * table's default stream over one gRPC connection, several appends in flight. At-least-once: a row
 * whose append is retried after a lost answer may be written twice (the default stream has no
 * offsets; the view and the API count each play once).
 */
export class StorageWriteWriter implements PlayWriter {
  readonly api = 'storage-write';
  readonly delivery = 'at-least-once';
  private readonly connection: AppendConnection;

  constructor(
    private readonly client: BigQueryWriteClient,
    streamName: string,
  ) {
    this.connection = new AppendConnection(client, streamName, PLAY_ROW_DESCRIPTOR, APPEND_TIMEOUT_MS);
  }

  async append(rows: readonly Segment[]): Promise<AppendResult> {
    const serialized: Buffer[] = [];
    forEachRow(rows, (chunk, row) => serialized.push(rowOf(chunk, row)));
    let response;
    try {
      response = await this.connection.append(serialized);
    } catch (error) {
      const message = errorText(error);
      throw new WriteFault(message, storageWriteAction(grpcCodeOf(error), message));
    }
    const rowErrors = response.rowErrors ?? [];
    if (rowErrors.length > 0) {
      // Nothing of the append was written: the rows named are bad, the others go again.
      const bad = new Map(rowErrors.map((e) => [Number(e.index), e]));
      const unwritten: RowOutcome[] = serialized.map((_, index) => {
        const error = bad.get(index);
        const action = storageWriteRowAction(error !== undefined);
        const detail =
          error === undefined
            ? 'not appended: another row of its append was invalid'
            : `${typeof error.code === 'number' ? (ROW_ERROR_CODES[error.code] ?? `row error ${error.code}`) : (error.code ?? 'row error')}: ${error.message ?? ''}`;
        return unwrittenRow(index, action, detail);
      });
      return { unwritten };
    }
    const status = response.error;
    if (status && (status.code ?? GRPC.OK) !== GRPC.OK) {
      const message = `${status.message ?? 'append failed'} (gRPC code ${status.code})`;
      throw new WriteFault(message, storageWriteAction(status.code ?? undefined, message));
    }
    return { unwritten: [] };
  }

  async close(): Promise<void> {
    this.connection.close();
    await this.client.close();
  }
}
