import type { BigQuery } from '@google-cloud/bigquery';
import { insertAllRequestAction, insertAllRowAction } from './insert-all-faults.js';
import { WriteFault, type AppendResult, type PlayWriter, type RowOutcome, unwrittenRow } from '../writer.contract.js';
import { startOf, type Segment } from '../rows.js';
import { InsertAllClient, InsertAllError } from './insert-all-client.js';

/**
 * Writes with the legacy streaming insert (tabledata.insertAll): JSON rows with an insertId each, so
 * BigQuery drops a redelivered row's copy (best effort, for about a minute): at-least-once.
 */
export class InsertAllWriter implements PlayWriter {
  readonly api = 'insert-all';
  readonly delivery = 'at-least-once';
  private readonly client: InsertAllClient;

  constructor(bigquery: BigQuery, dataset: string, table: string) {
    this.client = new InsertAllClient(bigquery, dataset, table);
  }

  async append(rows: readonly Segment[]): Promise<AppendResult> {
    let response;
    try {
      // The body is the rows' JSON as encoded on the decoder thread, never copied or re-encoded.
      response = await this.client.insert(insertAllBody(rows));
    } catch (error) {
      if (!(error instanceof InsertAllError)) throw error;
      throw new WriteFault(error.message, insertAllRequestAction(error.status, error.reason, error.message));
    }
    const unwritten: RowOutcome[] = [];
    for (const { index, errors = [] } of response.insertErrors ?? []) {
      if (errors.length === 0) continue;
      const action = insertAllRowAction(errors.map((e) => e.reason));
      const detail = errors.map((e) => `${e.reason}${e.location ? ` at ${e.location}` : ''}: ${e.message}`).join('; ');
      unwritten.push(unwrittenRow(index, action, detail));
    }
    return { unwritten };
  }

  close(): Promise<void> {
    this.client.close();
    return Promise.resolve();
  }
}

const BODY_HEAD = Buffer.from('{"skipInvalidRows":false,"ignoreUnknownValues":false,"rows":[');
const BODY_TAIL = Buffer.from(']}');
const COMMA = Buffer.from(',');

/** The request body, in parts: runs of rows as the decoder encoded them (already comma-joined), not copied. */
function insertAllBody(rows: readonly Segment[]): Buffer[] {
  const parts: Buffer[] = [BODY_HEAD];
  rows.forEach(({ chunk, from, to }, i) => {
    if (i > 0) parts.push(COMMA);
    parts.push(chunk.rows.subarray(startOf(chunk, from), chunk.ends[to - 1]));
  });
  parts.push(BODY_TAIL);
  return parts;
}
