import { credentials, Server, status, type ServerDuplexStream } from '@grpc/grpc-js';
import { PassThroughClient } from 'google-auth-library';
import type { Counter } from '../../../metrics/metrics.js';
import { GRPC } from '../storage-write-faults.js';
import type { PartitionStart, RowChunk } from '../../sink.contract.js';
import type { WriterAssignment } from '../../writer.contract.js';
import { BigQueryWriteClient } from '../client-parts.js';
import { listenLocally, writeApiService } from '../write-api-service.js';
import { ExactlyOnceWriter } from './exactly-once-writer.js';

// What the exactly-once writer's specs run on (the service itself never loads it): its own logic
// (ordering, resending, reconciling) against a stand-in of the Write API that keeps COMMITTED streams
// with offsets as BigQuery does (an append at an offset the stream already holds is refused as
// ALREADY_EXISTS, one past its end as OUT_OF_RANGE, any append to a finalized stream is refused),
// and injects the faults no emulator has: an answer lost after the rows were written, a dropped
// connection. The emulator-backed proof (kills, zombies, outages) is test/exactly-once.int-spec.ts.

export interface Request {
  writeStream?: string;
  offset?: { value: string } | null;
  protoRows?: { rows?: { serializedRows?: Buffer[] } };
}
type Call = ServerDuplexStream<Request, unknown>;
export interface Stream {
  rows: string[];
  finalized: boolean;
}
/** Runs before a request is applied: return true when the test handled it (answered or not). */
type Fault = (request: Request, call: Call, stream: Stream, index: number) => boolean;

export const TABLE = 'projects/p/datasets/d/tables/t';

export class CommittedStreams {
  readonly streams = new Map<string, Stream>();
  readonly requests: Request[] = [];
  fault: Fault = () => false;
  /** CreateWriteStream answers NOT_FOUND (a table not yet made) this many times first. */
  missingTable = 0;
  private created = 0;
  private readonly server = new Server();

  async start(): Promise<string> {
    this.server.addService(writeApiService(), {
      CreateWriteStream: (
        _: unknown,
        callback: (error: { code: number; details: string } | null, stream?: unknown) => void,
      ) => {
        if (this.missingTable > 0 && this.missingTable--) {
          return callback({ code: status.NOT_FOUND, details: 'Not found: Table p:d.t' });
        }
        const name = `${TABLE}/streams/s${++this.created}`;
        this.streams.set(name, { rows: [], finalized: false });
        callback(null, { name, type: 'COMMITTED' });
      },
      FinalizeWriteStream: (
        call: { request: { name: string } },
        callback: (error: { code: number; details: string } | null, answer?: unknown) => void,
      ) => {
        const stream = this.streams.get(call.request.name);
        if (stream === undefined) return callback({ code: status.NOT_FOUND, details: 'stream not found' });
        stream.finalized = true;
        callback(null, { rowCount: String(stream.rows.length) });
      },
      AppendRows: (call: Call) => {
        let name = '';
        call.on('data', (request: Request) => {
          name = request.writeStream || name;
          this.requests.push({ ...request, writeStream: name });
          const stream = this.streams.get(name)!;
          if (this.fault(request, call, stream, this.requests.length - 1)) return;
          call.write(apply(stream, request));
        });
        call.on('end', () => call.end());
        call.on('error', () => undefined);
      },
    });
    return listenLocally(this.server);
  }

  stop(): void {
    this.server.forceShutdown();
  }
}

/** What BigQuery does with an append at an offset to a COMMITTED stream. */
export function apply(stream: Stream, request: Request): unknown {
  const rows = (request.protoRows?.rows?.serializedRows ?? []).map((row) => row.toString());
  const offset = Number(request.offset?.value);
  if (stream.finalized) return { error: { code: GRPC.INVALID_ARGUMENT, message: 'Stream is finalized' } };
  if (offset < stream.rows.length) return { error: { code: GRPC.ALREADY_EXISTS, message: `Offset ${offset} exists` } };
  if (offset > stream.rows.length) return { error: { code: GRPC.OUT_OF_RANGE, message: `Offset ${offset} beyond` } };
  stream.rows.push(...rows);
  return { appendResult: { offset: { value: String(offset) } } };
}

/** A chunk of rows named `p<offset>`, one per message from `first` (a batch with no bad messages). */
export function chunk(first: number, count: number): RowChunk {
  const names = Array.from({ length: count }, (_, i) => `p${first + i}`);
  const ends = new Int32Array(count);
  let at = -1;
  names.forEach((name, i) => (ends[i] = at += name.length + 1));
  return {
    rows: Buffer.from(names.join(',')),
    ends,
    source: (row) => ({ offset: String(first + row) }) as never,
    partition: 0,
    lastOffset: BigInt(first + count - 1),
    done: () => undefined,
    lettered: () => undefined,
    dropped: () => undefined,
  };
}
export const whole = (c: RowChunk) => [{ chunk: c, from: 0, to: c.ends.length }];

/** The records a writer committed of its own (`rowsThen`: rows of the newest stream then, after the first). */
export type Records = { partition: number; offset: bigint; metadata: string; rowsThen?: number }[];

/** A writer talking to a stand-in of COMMITTED streams, made afresh by each `start`. */
export class ExactlyOnceTestBed {
  streams!: CommittedStreams;
  writer!: ExactlyOnceWriter;
  fallbacks = 0;
  records: Records = [];

  async start(): Promise<void> {
    this.streams = new CommittedStreams();
    const [host, port] = (await this.streams.start()).split(':');
    const client = new BigQueryWriteClient({
      apiEndpoint: host,
      port: Number(port),
      sslCreds: credentials.createInsecure(),
      authClient: new PassThroughClient() as never,
    });
    this.fallbacks = 0;
    this.records = [];
    this.writer = new ExactlyOnceWriter(client, { table: TABLE, retryMaxDelayMs: 200 }, {
      inc: () => this.fallbacks++,
    } as unknown as Counter);
  }

  async stop(): Promise<void> {
    await this.writer.close();
    this.streams.stop();
  }

  /**
   * Opens an assignment of partition 0 from `start`, its records kept in `records`: each commit the
   * writer asks for is committed at once, as the consumer's committer would (preCommit, committed).
   */
  assign(start: PartitionStart): WriterAssignment {
    const assignment: WriterAssignment = {
      partitions: [0],
      tableReady: () => Promise.resolve(),
      starts: () => Promise.resolve(new Map([[0, start]])),
      requestCommit: () => {
        const commits = this.writer.preCommit(new Map());
        for (const { partition, offset, metadata } of commits) {
          const rowsThen = [...this.streams.streams.values()].at(-1)?.rows.length;
          this.records.push({ partition, offset, metadata: metadata!, ...(this.records.length > 0 && { rowsThen }) });
        }
        this.writer.committed(commits);
      },
    };
    this.writer.open(assignment);
    return assignment;
  }

  /** The newest stream. */
  onlyStream(): Stream {
    return [...this.streams.streams.values()].at(-1)!;
  }
}
