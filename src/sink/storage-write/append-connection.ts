import { GRPC } from './storage-write-faults.js';
import type { BigQueryWriteClient, protos } from './client-parts.js';

type AppendRowsRequest = protos.google.cloud.bigquery.storage.v1.IAppendRowsRequest;
export type AppendRowsResponse = protos.google.cloud.bigquery.storage.v1.IAppendRowsResponse;
type Descriptor = protos.google.protobuf.IDescriptorProto;
type AppendStream = ReturnType<BigQueryWriteClient['appendRows']>;

/** A failed append or connection, with its gRPC status code. */
export class AppendError extends Error {
  constructor(
    message: string,
    readonly code: number,
  ) {
    super(message);
    this.name = 'AppendError';
  }
}

interface PendingAppend {
  resolve: (response: AppendRowsResponse) => void;
  reject: (error: unknown) => void;
  timer: NodeJS.Timeout;
}

/**
 * One AppendRows connection (a gRPC bidi stream) to one write stream: appends go out in order,
 * several at once, and BigQuery answers them in the same order, so the answers are matched to a
 * FIFO of pending appends. The first request of each connection names the stream and carries the
 * writer schema. When the connection fails (an error, the server closing it, an idle timeout, an
 * answer that never comes), every append still pending fails with its gRPC code and the next append
 * opens a new connection: the caller decides what to write again, in what order.
 *
 * One connection per write stream, appends in order, an optional offset per append: what an
 * application-created COMMITTED stream needs for exactly-once, as well as the default stream.
 */
export class AppendConnection {
  private stream: AppendStream | null = null;
  private schemaSent = false;
  private pending: PendingAppend[] = [];
  private closed = false;

  constructor(
    private readonly client: BigQueryWriteClient,
    readonly streamName: string,
    private readonly descriptor: Descriptor,
    private readonly timeoutMs: number,
  ) {}

  /** Appends rows (serialized protobuf messages); with an offset, only at that position of the stream. */
  append(serializedRows: Uint8Array[], offset?: number): Promise<AppendRowsResponse> {
    if (this.closed) return Promise.reject(new AppendError('the connection is closed', GRPC.CANCELLED));
    const stream = this.stream ?? this.open();
    const request: AppendRowsRequest = { protoRows: { rows: { serializedRows } } };
    if (!this.schemaSent) {
      request.writeStream = this.streamName;
      request.protoRows!.writerSchema = { protoDescriptor: this.descriptor };
      this.schemaSent = true;
    }
    if (offset !== undefined) request.offset = { value: offset };
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () =>
          this.fail(
            stream,
            new AppendError(`no answer to an append within ${this.timeoutMs / 1000} s`, GRPC.DEADLINE_EXCEEDED),
          ),
        this.timeoutMs,
      );
      this.pending.push({ resolve, reject, timer });
      stream.write(request);
    });
  }

  /** Ends the connection; appends still pending fail (CANCELLED). */
  close(): void {
    this.closed = true;
    if (this.stream !== null) this.fail(this.stream, new AppendError('the connection was closed', GRPC.CANCELLED));
  }

  private open(): AppendStream {
    // The routing header BigQuery needs to find the stream's region (the generated client cannot
    // set it from a bidi stream's first request, so it is given here, as the managed writer does).
    const stream = this.client.appendRows({
      otherArgs: { headers: { 'x-goog-request-params': `write_stream=${this.streamName}` } },
    });
    this.stream = stream;
    this.schemaSent = false;
    stream.on('data', (response: AppendRowsResponse) => {
      const head = this.pending.shift();
      if (head === undefined) return;
      clearTimeout(head.timer);
      head.resolve(response);
    });
    stream.on('error', (error: Error & { code?: unknown }) => {
      const code = typeof error.code === 'number' ? error.code : GRPC.UNAVAILABLE;
      this.fail(stream, new AppendError(error.message, code));
    });
    // The server closed it (e.g. idle): the pending appends (if any) were not answered.
    const closed = () => this.fail(stream, new AppendError('the server closed the connection', GRPC.UNAVAILABLE));
    stream.on('end', closed);
    stream.on('close', closed);
    return stream;
  }

  private fail(stream: AppendStream, error: AppendError): void {
    if (this.stream !== stream) return;
    this.stream = null;
    const pending = this.pending;
    this.pending = [];
    for (const { reject, timer } of pending) {
      clearTimeout(timer);
      reject(error);
    }
    stream.removeAllListeners('data');
    stream.on('error', () => undefined);
    try {
      // Ends the call on the wire too (the proxy may not hold a call yet, or any more: then it throws).
      stream.cancel();
    } catch {
      // Nothing to cancel.
    }
    stream.destroy();
  }
}
