import { credentials, Server, status, type ServerDuplexStream } from '@grpc/grpc-js';
import { PassThroughClient } from 'google-auth-library';
import { GRPC } from './storage-write-faults.js';
import { WriteFault } from '../writer.contract.js';
import type { RowChunk } from '../sink.contract.js';
import { AppendConnection, AppendError } from './append-connection.js';
import { BigQueryWriteClient } from './client-parts.js';
import { PLAY_ROW_DESCRIPTOR } from './play-row-descriptor.js';
import { StorageWriteWriter } from './storage-write-writer.js';
import { listenLocally, writeApiService } from './write-api-service.js';

// The faults the BigQuery emulator does not have (it has no idle timeout, request-size limit or quota
// errors): a connection the server drops or lets idle out, an answer that never comes, quota errors.
// A small gRPC server of the Write API's own proto that answers as each test says, and the real
// generated client talking to it.

interface Request {
  writeStream?: string;
  offset?: { value: string } | null;
  protoRows?: { writerSchema?: { protoDescriptor?: { name?: string } } | null; rows?: { serializedRows?: Buffer[] } };
}
type Call = ServerDuplexStream<Request, unknown>;
/** What the server does with a request: answer it (now or later), or act on the connection. */
type Behaviour = (request: Request, call: Call, index: number) => void;

class WriteApiStandIn {
  readonly requests: Request[] = [];
  connections = 0;
  behaviour: Behaviour = (_, call) => call.write({ appendResult: {} });
  private readonly server = new Server();

  async start(): Promise<string> {
    this.server.addService(writeApiService(), {
      AppendRows: (call: Call) => {
        this.connections++;
        call.on('data', (request: Request) => {
          this.requests.push(request);
          this.behaviour(request, call, this.requests.length - 1);
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

const STREAM = 'projects/p/datasets/d/tables/t/streams/_default';
const rowsOf = (...names: string[]) => names.map((name) => Buffer.from(name));
const rowNames = (request: Request) => (request.protoRows?.rows?.serializedRows ?? []).map((row) => row.toString());

describe('AppendConnection and StorageWriteWriter against a Write API stand-in', () => {
  let standIn: WriteApiStandIn;
  let client: InstanceType<typeof BigQueryWriteClient>;
  beforeEach(async () => {
    standIn = new WriteApiStandIn();
    const endpoint = await standIn.start();
    const [host, port] = endpoint.split(':');
    client = new BigQueryWriteClient({
      apiEndpoint: host,
      port: Number(port),
      sslCreds: credentials.createInsecure(),
      authClient: new PassThroughClient() as never,
    });
  });
  afterEach(async () => {
    await client.close();
    standIn.stop();
  });

  it('sends appends in order, several in flight, the stream and writer schema on the first only, and matches the answers in order', async () => {
    const answers: Call[] = [];
    // Hold every answer, then answer all at once: the pending appends are resolved in order.
    standIn.behaviour = (_, call) => answers.push(call);
    const connection = new AppendConnection(client, STREAM, PLAY_ROW_DESCRIPTOR, 10_000);
    const appends = ['a', 'b', 'c'].map((name) => connection.append(rowsOf(name)));
    await vi.waitFor(() => expect(standIn.requests).toHaveLength(3));
    answers.forEach((call, i) => call.write({ appendResult: { offset: { value: String(i) } } }));
    const results = await Promise.all(appends);
    expect(results.map((r) => r.appendResult?.offset?.value)).toEqual(['0', '1', '2']);
    expect(standIn.requests.map(rowNames)).toEqual([['a'], ['b'], ['c']]);
    expect(standIn.requests[0]!.writeStream).toBe(STREAM);
    expect(standIn.requests[0]!.protoRows?.writerSchema?.protoDescriptor?.name).toBe('play_row');
    expect(standIn.requests.slice(1).map((r) => [r.writeStream, r.protoRows?.writerSchema ?? null])).toEqual([
      ['', null],
      ['', null],
    ]);
    expect(standIn.connections).toBe(1);
    connection.close();
  });

  it('fails every pending append when the server closes the connection (idle), and reconnects with the schema for the next', async () => {
    standIn.behaviour = (_, call, index) => {
      // As a gRPC server ends a streaming call with a status.
      if (index === 1) call.emit('error', { code: status.ABORTED, details: 'inactive for 600 seconds' });
    };
    const connection = new AppendConnection(client, STREAM, PLAY_ROW_DESCRIPTOR, 10_000);
    const pending = [connection.append(rowsOf('a')), connection.append(rowsOf('b'))];
    const outcomes = await Promise.allSettled(pending);
    for (const outcome of outcomes) {
      expect(outcome.status).toBe('rejected');
      expect((outcome as PromiseRejectedResult).reason).toBeInstanceOf(AppendError);
    }
    expect(((outcomes[0] as PromiseRejectedResult).reason as AppendError).code).not.toBe(GRPC.OK);

    standIn.behaviour = (_, call) => call.write({ appendResult: {} });
    await connection.append(rowsOf('c'));
    expect(standIn.connections).toBe(2);
    expect(standIn.requests.at(-1)!.writeStream).toBe(STREAM);
    expect(standIn.requests.at(-1)!.protoRows?.writerSchema?.protoDescriptor?.name).toBe('play_row');
    connection.close();
  });

  it('fails an append that is never answered (DEADLINE_EXCEEDED) and drops that connection', async () => {
    standIn.behaviour = () => undefined;
    const connection = new AppendConnection(client, STREAM, PLAY_ROW_DESCRIPTOR, 300);
    await expect(connection.append(rowsOf('lost'))).rejects.toMatchObject({ code: GRPC.DEADLINE_EXCEEDED });
    standIn.behaviour = (_, call) => call.write({ appendResult: {} });
    await connection.append(rowsOf('again'));
    expect(standIn.connections).toBe(2);
    connection.close();
  });

  describe('StorageWriteWriter: the answers, classified', () => {
    const chunkOf = (...names: string[]): RowChunk => {
      const rows = Buffer.from(names.join('\0'));
      const ends = new Int32Array(names.length);
      let at = -1;
      names.forEach((name, i) => (ends[i] = at += name.length + 1));
      return {
        rows,
        ends,
        source: () => ({}) as never,
        partition: 0,
        lastOffset: BigInt(names.length - 1),
        done: () => undefined,
        lettered: () => undefined,
        dropped: () => undefined,
      };
    };

    it('row_errors: the rows named are dead-lettered, the others appended again (nothing of it was written)', async () => {
      standIn.behaviour = (_, call) =>
        call.write({
          error: { code: GRPC.INVALID_ARGUMENT, message: 'Errors found while processing rows.' },
          rowErrors: [{ index: 1, code: 'FIELDS_ERROR', message: 'Missing required field: event_id.' }],
        });
      const writer = new StorageWriteWriter(client, STREAM);
      const chunk = chunkOf('r0', 'r1', 'r2');
      const { unwritten } = await writer.append([{ chunk, from: 0, to: 3 }]);
      expect(standIn.requests.map(rowNames)).toEqual([['r0', 'r1', 'r2']]);
      expect(unwritten).toEqual([
        { index: 0, outcome: 'retry', detail: 'not appended: another row of its append was invalid' },
        {
          index: 1,
          outcome: 'refused',
          reason: 'bigquery_invalid',
          detail: 'FIELDS_ERROR: Missing required field: event_id.',
        },
        { index: 2, outcome: 'retry', detail: 'not appended: another row of its append was invalid' },
      ]);
    });

    it.each([
      [GRPC.RESOURCE_EXHAUSTED, 'retry'],
      [GRPC.INTERNAL, 'retry'],
      [GRPC.PERMISSION_DENIED, 'stop'],
    ])('an answer with error code %s is a %s fault', async (code, action) => {
      standIn.behaviour = (_, call) => call.write({ error: { code, message: 'refused' } });
      const writer = new StorageWriteWriter(client, STREAM);
      const failure = await writer.append([{ chunk: chunkOf('r0'), from: 0, to: 1 }]).catch((e: unknown) => e);
      expect(failure).toBeInstanceOf(WriteFault);
      expect((failure as WriteFault).action).toBe(action);
    });

    it('a connection that breaks is a retry fault', async () => {
      standIn.behaviour = (_, call) => call.emit('error', { code: status.UNAVAILABLE, details: 'gone' });
      const writer = new StorageWriteWriter(client, STREAM);
      const failure = await writer.append([{ chunk: chunkOf('r0'), from: 0, to: 1 }]).catch((e: unknown) => e);
      expect((failure as WriteFault).action).toBe('retry');
    });
  });
});
