import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { PLAY_TABLE_SCHEMA } from '../src/sink/play-table.js';

const ROW_START = Buffer.from('{"insertId":');
const LATENCY_MARK = Buffer.from('"lat-');

/**
 * A local stand-in for BigQuery's REST API that answers insertAll at once (or after `delayMs`, a real
 * round trip) and counts rows, so the benchmark measures plays-pipeline, not a BigQuery emulator. It
 * answers just what the service and @google-cloud/bigquery ask: dataset and table look-ups (as
 * existing, with the plays schema, always at once) and insertAll.
 */
export class FakeBigQuery {
  rows = 0;
  requests = 0;
  /** Arrival time (ms) of rows whose event_id starts with "lat-<produced ms>-". */
  latencies: number[] = [];
  private readonly server = http.createServer((req, res) => this.handle(req, res));

  constructor(private readonly delayMs = 0) {}

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  reset(): void {
    this.rows = 0;
    this.requests = 0;
    this.latencies = [];
  }

  stop(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const url = req.url ?? '';
      const reply = (body: unknown) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      if (req.method === 'POST' && url.includes('/insertAll')) {
        const now = Date.now();
        const body = Buffer.concat(chunks);
        this.requests++;
        // Counted without parsing: `{"insertId":` starts every row and cannot occur inside a JSON
        // string (its quote would be escaped), so the stand-in costs the machine little.
        for (let at = body.indexOf(ROW_START); at !== -1; at = body.indexOf(ROW_START, at + ROW_START.length)) {
          this.rows++;
        }
        if (body.includes(LATENCY_MARK)) {
          const { rows } = JSON.parse(body.toString()) as { rows: { json: { event_id?: string | null } }[] };
          for (const row of rows) {
            const id = row.json.event_id;
            if (id?.startsWith('lat-')) this.latencies.push(now - Number(id.split('-')[1]));
          }
        }
        const answer = () => reply({ kind: 'bigquery#tableDataInsertAllResponse' });
        if (this.delayMs > 0) setTimeout(answer, this.delayMs);
        else answer();
        return;
      }
      if (/\/tables\/[^/?]+/.test(url)) {
        return reply({
          kind: 'bigquery#table',
          schema: { fields: PLAY_TABLE_SCHEMA },
          timePartitioning: { type: 'DAY', field: 'timestamp' },
          clustering: { fields: ['artist', 'song_name'] },
        });
      }
      if (/\/datasets\/[^/?]+/.test(url)) return reply({ kind: 'bigquery#dataset' });
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { code: 404, message: `not emulated: ${req.method} ${url}` } }));
    });
  }
}
