import { grpc } from 'google-gax';
import protobuf from 'protobufjs';
import 'protobufjs/ext/descriptor/index.js';
import { PLAY_TABLE_SCHEMA } from '../src/sink/play-table.js';
import { listenLocally, writeApiService } from '../src/sink/storage-write/write-api-service.js';

/** gRPC status codes the stand-in answers with. */
const ALREADY_EXISTS = 6;
const OUT_OF_RANGE = 11;
const FAILED_PRECONDITION = 9;

/** What the stand-in reads of an AppendRowsRequest, without decoding its rows. */
interface ScannedAppend {
  writeStream: string | undefined;
  offset: number | undefined;
  /** The writer schema (a DescriptorProto, serialized), in a connection's first request. */
  descriptor: Uint8Array | undefined;
  rows: number;
  /** Rows that may carry a latency mark (their bytes hold "lat-"), to decode. */
  marked: Uint8Array[];
}

const LATENCY_MARK = Buffer.from('lat-');

/**
 * Reads an AppendRowsRequest straight off the wire: the stream name, the offset, the writer schema
 * and the number of serialized rows, skipping the rows' bytes. proto-loader's own decoding would
 * make an object per row, which on this small machine the stand-in would take from the service it
 * measures (the insertAll stand-in likewise counts rows without parsing its JSON).
 */
function scanAppend(bytes: Buffer): ScannedAppend {
  const scanned: ScannedAppend = {
    writeStream: undefined,
    offset: undefined,
    descriptor: undefined,
    rows: 0,
    marked: [],
  };
  // Where latency marks are, found once for the whole request (most requests have none).
  const marks: number[] = [];
  for (let at = bytes.indexOf(LATENCY_MARK); at !== -1; at = bytes.indexOf(LATENCY_MARK, at + 1)) marks.push(at);
  let nextMark = 0;
  const reader = protobuf.Reader.create(bytes);
  const within = (end: number, each: (field: number, wire: number) => void) => {
    while (reader.pos < end) {
      const tag = reader.uint32();
      each(tag >>> 3, tag & 7);
    }
  };
  within(reader.len, (field, wire) => {
    if (field === 1 && wire === 2) scanned.writeStream = reader.string();
    else if (field === 2 && wire === 2) {
      // google.protobuf.Int64Value { int64 value = 1; }
      const end = reader.uint32() + reader.pos;
      within(end, (inner, innerWire) => {
        if (inner === 1 && innerWire === 0) {
          // A Long (protobufjs with the long package, as here) or a number.
          const value = reader.int64() as unknown as number | { toNumber(): number };
          scanned.offset = typeof value === 'number' ? value : value.toNumber();
        } else reader.skipType(innerWire);
      });
    } else if (field === 4 && wire === 2) {
      // ProtoData { ProtoSchema writer_schema = 1; ProtoRows rows = 2; }
      const end = reader.uint32() + reader.pos;
      within(end, (inner, innerWire) => {
        if (inner === 1 && innerWire === 2) {
          // ProtoSchema { DescriptorProto proto_descriptor = 1; }
          const schemaEnd = reader.uint32() + reader.pos;
          within(schemaEnd, (schemaField, schemaWire) => {
            if (schemaField === 1 && schemaWire === 2) scanned.descriptor = reader.bytes();
            else reader.skipType(schemaWire);
          });
        } else if (inner === 2 && innerWire === 2) {
          // ProtoRows { repeated bytes serialized_rows = 1; }
          const rowsEnd = reader.uint32() + reader.pos;
          within(rowsEnd, (rowField, rowWire) => {
            if (rowField !== 1 || rowWire !== 2) return reader.skipType(rowWire);
            const length = reader.uint32();
            const start = reader.pos;
            reader.skip(length);
            scanned.rows++;
            while (nextMark < marks.length && marks[nextMark]! < start) nextMark++;
            if (nextMark < marks.length && marks[nextMark]! < start + length) {
              scanned.marked.push(bytes.subarray(start, start + length));
            }
          });
        } else reader.skipType(innerWire);
      });
    } else reader.skipType(wire);
  });
  return scanned;
}

interface FieldDescriptor {
  oneofIndex?: number;
  defaultValue?: string;
}
// protobufjs/ext/descriptor (imported above) adds these: google.protobuf's descriptor messages, and
// Type.fromDescriptor.
const { DescriptorProto } = (protobuf as unknown as { descriptor: { DescriptorProto: DescriptorCodec } }).descriptor;
interface DescriptorCodec {
  decode(bytes: Uint8Array): { field?: FieldDescriptor[]; oneofDecl?: unknown[] };
}
const TypeFromDescriptor = protobuf.Type as unknown as { fromDescriptor(descriptor: unknown): protobuf.Type };

/**
 * The row type a writer schema describes. The Node client sends a DescriptorProto instance with every
 * optional field set to its default (oneof_index 0 without any oneof, an empty default_value), which
 * protobufjs refuses to build a type from: those are dropped first.
 */
function rowTypeOf(descriptorBytes: Uint8Array): protobuf.Type {
  const descriptor = DescriptorProto.decode(descriptorBytes);
  for (const field of descriptor.field ?? []) {
    if ((descriptor.oneofDecl ?? []).length === 0) delete field.oneofIndex;
    if (field.defaultValue === '') delete field.defaultValue;
  }
  return TypeFromDescriptor.fromDescriptor(descriptor);
}

/** The plays table as the Write API describes a table (TableSchema of storage/v1/table.proto). */
const TABLE_SCHEMA = {
  fields: PLAY_TABLE_SCHEMA.map((field) => ({ name: field.name, type: field.type, mode: field.mode })),
};

interface StreamState {
  type: string;
  /** Rows written so far: where the next append with an offset must start. */
  end: number;
  finalized: boolean;
}

/**
 * A local stand-in for BigQuery's Storage Write API (the BigQueryWrite gRPC service, from the proto
 * that @google-cloud/bigquery-storage ships): AppendRows answers each request at once, or after
 * `delayMs` (a real round trip), in order, and counts rows, so the benchmark measures plays-pipeline,
 * not an emulator. Application-created streams (CreateWriteStream) check offsets as BigQuery does
 * (ALREADY_EXISTS below the stream's end, OUT_OF_RANGE beyond it) and FinalizeWriteStream returns
 * the row count, so an exactly-once writer can be measured too. Plain gRPC, no TLS or credentials.
 */
export class FakeStorageWrite {
  rows = 0;
  requests = 0;
  /** Produce-to-arrival times (ms) of rows whose event_id is "lat-<produced ms>-...". */
  latencies: number[] = [];
  private readonly server = new grpc.Server();
  private readonly streams = new Map<string, StreamState>();
  private created = 0;

  constructor(private readonly delayMs = 0) {}

  /** Starts listening on a free local port; resolves with `host:port` (BIGQUERY_STORAGE_API_ENDPOINT). */
  async start(): Promise<string> {
    const definition = writeApiService();
    const service: grpc.ServiceDefinition = {
      ...definition,
      AppendRows: { ...definition.AppendRows!, requestDeserialize: scanAppend },
    };
    this.server.addService(service, {
      AppendRows: (call: grpc.ServerDuplexStream<ScannedAppend, unknown>) => this.appendRows(call),
      GetWriteStream: (call: grpc.ServerUnaryCall<{ name: string }, unknown>, callback: grpc.sendUnaryData<unknown>) =>
        callback(null, this.describe(call.request.name)),
      CreateWriteStream: (
        call: grpc.ServerUnaryCall<{ parent: string; writeStream?: { type?: string } }, unknown>,
        callback: grpc.sendUnaryData<unknown>,
      ) => {
        const name = `${call.request.parent}/streams/stand-in-${++this.created}`;
        this.streams.set(name, { type: call.request.writeStream?.type ?? 'COMMITTED', end: 0, finalized: false });
        callback(null, this.describe(name));
      },
      FinalizeWriteStream: (
        call: grpc.ServerUnaryCall<{ name: string }, unknown>,
        callback: grpc.sendUnaryData<unknown>,
      ) => {
        const stream = this.streams.get(call.request.name);
        if (stream === undefined)
          return callback({ code: grpc.status.NOT_FOUND, details: `no stream ${call.request.name}` });
        stream.finalized = true;
        callback(null, { rowCount: String(stream.end) });
      },
    });
    return listenLocally(this.server);
  }

  reset(): void {
    this.rows = 0;
    this.requests = 0;
    this.latencies = [];
  }

  stop(): Promise<void> {
    return new Promise((resolve) => {
      this.server.tryShutdown(() => resolve());
      // Open AppendRows connections would hold a graceful shutdown forever.
      setTimeout(() => this.server.forceShutdown(), 1_000).unref();
    });
  }

  private describe(name: string) {
    const state = this.streams.get(name);
    return { name, type: state?.type ?? 'COMMITTED', writeMode: 'INSERT', tableSchema: TABLE_SCHEMA };
  }

  private appendRows(call: grpc.ServerDuplexStream<ScannedAppend, unknown>): void {
    let writeStream = '';
    let rowType: protobuf.Type | null = null;
    let unanswered = 0;
    let ended = false;
    const answer = (response: unknown) => {
      const send = () => {
        unanswered--;
        if (!call.writable) return;
        call.write(response);
        if (ended && unanswered === 0) call.end();
      };
      unanswered++;
      // Same delay for every request: Node runs the timers in the order they were set, so the
      // answers keep the requests' order, as BigQuery's do.
      if (this.delayMs > 0) setTimeout(send, this.delayMs);
      else send();
    };
    call.on('data', (append: ScannedAppend) => {
      const now = Date.now();
      this.requests++;
      writeStream = append.writeStream ?? writeStream;
      if (append.descriptor !== undefined) rowType = rowTypeOf(append.descriptor);
      const state = this.streams.get(writeStream);
      if (state !== undefined && (state.finalized || append.offset !== undefined)) {
        const refusal = state.finalized
          ? { code: FAILED_PRECONDITION, message: `stream ${writeStream} is finalized` }
          : append.offset! < state.end
            ? { code: ALREADY_EXISTS, message: `offset ${append.offset} is below the stream's end ${state.end}` }
            : append.offset! > state.end
              ? { code: OUT_OF_RANGE, message: `offset ${append.offset} is beyond the stream's end ${state.end}` }
              : null;
        if (refusal !== null) return answer({ error: refusal, writeStream });
      }
      const offset = state?.end ?? null;
      if (state !== undefined) state.end += append.rows;
      this.rows += append.rows;
      if (rowType !== null) {
        for (const row of append.marked) {
          const id = (rowType.decode(row) as unknown as { event_id?: string }).event_id;
          if (id?.startsWith('lat-')) this.latencies.push(now - Number(id.split('-')[1]));
        }
      }
      answer({ appendResult: { offset: offset === null ? null : { value: String(offset) } }, writeStream });
    });
    call.on('end', () => {
      ended = true;
      if (unanswered === 0) call.end();
    });
    call.on('error', () => undefined);
  }
}
