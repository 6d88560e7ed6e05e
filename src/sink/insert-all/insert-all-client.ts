import http from 'node:http';
import https from 'node:https';
import type { BigQuery } from '@google-cloud/bigquery';

/** What insertAll answers: per-row errors, if any (an empty or absent list means every row is in). */
export interface InsertAllResponse {
  insertErrors?: { index: number; errors?: { reason?: string; message?: string; location?: string }[] }[];
}

/**
 * A failed insertAll request: `status` is the HTTP status (null for a network error or a timeout),
 * `reason` BigQuery's error reason (e.g. `rateLimitExceeded`), when it gave one.
 */
export class InsertAllError extends Error {
  constructor(
    message: string,
    readonly status: number | null,
    readonly reason?: string,
  ) {
    super(message);
  }
}

const REQUEST_TIMEOUT_MS = 60_000;

/**
 * Posts insertAll request bodies with Node's own HTTP client and a keep-alive agent, with the auth
 * library's headers (none for an emulator). @google-cloud/common's request stack (retry-request,
 * teeny-request, node-fetch, an AbortController and a stream pipeline per request) cost about a
 * seventh of the consumer thread's time at full speed; the sink does its own retries anyway.
 */
export class InsertAllClient {
  private readonly url: URL;
  private readonly agent: http.Agent;
  private readonly request: typeof http.request;

  constructor(
    private readonly bigquery: BigQuery,
    datasetId: string,
    tableId: string,
  ) {
    // The same URL the client library builds: its base URL (BIGQUERY_EMULATOR_HOST or the API endpoint)
    // and the ids as they are (the configuration schema allows only characters a path can hold; a
    // domain-scoped project keeps its colon, as the library sends it).
    const base = bigquery.baseUrl.replace(/\/+$/, '');
    this.url = new URL(`${base}/projects/${bigquery.projectId}/datasets/${datasetId}/tables/${tableId}/insertAll`);
    const secure = this.url.protocol === 'https:';
    this.agent = secure ? new https.Agent({ keepAlive: true }) : new http.Agent({ keepAlive: true });
    this.request = secure ? https.request : http.request;
  }

  /**
   * One insertAll request, its body given in parts (sent as they are, one after another: no copy).
   * Resolves with BigQuery's answer; throws InsertAllError when the request failed.
   */
  async insert(body: readonly Buffer[]): Promise<InsertAllResponse> {
    let length = 0;
    for (const part of body) length += part.length;
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'content-length': String(length),
    };
    // Real BigQuery: a bearer token (cached and refreshed by the auth library); an emulator: nothing.
    const auth = await this.bigquery.authClient.getRequestHeaders(this.url.href);
    auth.forEach((value, name) => (headers[name] = value));
    const { status, text } = await this.post(body, headers);
    let parsed: object | undefined;
    try {
      parsed = text.length === 0 ? {} : (JSON.parse(text) as object);
    } catch {
      parsed = undefined;
    }
    if (status < 200 || status > 299) {
      const error = (parsed as { error?: { message?: unknown; errors?: { reason?: unknown }[] } } | null | undefined)
        ?.error;
      const message = typeof error?.message === 'string' ? error.message : text.slice(0, 300) || `HTTP ${status}`;
      const reason = error?.errors?.[0]?.reason;
      throw new InsertAllError(message, status, typeof reason === 'string' ? reason : undefined);
    }
    if (typeof parsed !== 'object' || parsed === null) {
      throw new InsertAllError(`insertAll answered ${status} with a body that is not JSON`, status);
    }
    return parsed;
  }

  close(): void {
    this.agent.destroy();
  }

  private post(body: readonly Buffer[], headers: Record<string, string>): Promise<{ status: number; text: string }> {
    return new Promise((resolve, reject) => {
      const req = this.request(this.url, { method: 'POST', agent: this.agent, headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', (error) => reject(new InsertAllError(`insertAll response failed: ${error.message}`, null)));
      });
      req.setTimeout(REQUEST_TIMEOUT_MS, () =>
        req.destroy(new Error(`no answer within ${REQUEST_TIMEOUT_MS / 1000} s`)),
      );
      req.on('error', (error) => reject(new InsertAllError(`insertAll request failed: ${error.message}`, null)));
      for (const part of body) req.write(part);
      req.end();
    });
  }
}
