import { Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import type { BigQuery, Table, TableField, TableMetadata } from '@google-cloud/bigquery';
import { AppConfig } from '../config/config.module.js';
import { createBigQuery } from '../bigquery/create-bigquery.js';
import { tableId, tableRef, topSongsViewName, topSongsViewQuery } from '../bigquery/play-queries.js';
import { errorText } from '../errors.js';
import { backoffDelay } from '../retry/backoff.js';
import { PLAY_TABLE_SCHEMA } from './play-schema.js';

export { PLAY_TABLE_SCHEMA } from './play-schema.js';

// BigQuery answers with legacy type names.
const TYPE_ALIASES: Record<string, string> = { INTEGER: 'INT64', FLOAT: 'FLOAT64', BOOLEAN: 'BOOL' };
const normalType = (type: string | undefined) => TYPE_ALIASES[type ?? ''] ?? type ?? '';

/**
 * Why an existing table cannot take our rows (`problems`), and what it will refuse (`warnings`).
 * Extra nullable columns are fine; a missing column, another type or an extra REQUIRED column is not.
 * A REQUIRED column that plays may leave empty (event_id) is the table owner's rule: plays without it
 * are rejected by BigQuery and dead-lettered.
 */
export function checkSchema(existing: readonly TableField[]): { problems: string[]; warnings: string[] } {
  const problems: string[] = [];
  const warnings: string[] = [];
  const byName = new Map(existing.map((field) => [field.name?.toLowerCase(), field]));
  for (const wanted of PLAY_TABLE_SCHEMA) {
    const found = byName.get(wanted.name!.toLowerCase());
    if (found === undefined) {
      problems.push(`column ${wanted.name} is missing`);
      continue;
    }
    if (normalType(found.type) !== wanted.type) {
      problems.push(`column ${wanted.name} is ${found.type}, expected ${wanted.type}`);
    }
    if (found.mode === 'REPEATED') problems.push(`column ${wanted.name} is REPEATED`);
    if (found.mode === 'REQUIRED' && wanted.mode !== 'REQUIRED') {
      warnings.push(`column ${wanted.name} is REQUIRED: plays without it will be rejected and dead-lettered`);
    }
  }
  const ours = new Set(PLAY_TABLE_SCHEMA.map((field) => field.name!.toLowerCase()));
  for (const field of existing) {
    if (!ours.has(field.name?.toLowerCase() ?? '') && field.mode === 'REQUIRED') {
      problems.push(`column ${field.name} is REQUIRED, but plays-pipeline does not fill it`);
    }
  }
  return { problems, warnings };
}

export type TableState =
  | { status: 'checking'; detail: string }
  | { status: 'ready'; detail: string }
  | { status: 'incompatible'; detail: string }
  | { status: 'unreachable'; detail: string };

const RECHECK_MS = 30_000;

/**
 * Ensures the dataset and the day-partitioned, clustered plays table exist (creating them when
 * BIGQUERY_CREATE_TABLE allows) and that their schema can take our rows. Until then the sink holds
 * its rows, so an unreachable BigQuery or a wrong table stalls visibly (not ready) and loses nothing.
 */
@Injectable()
export class PlayTable implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(PlayTable.name);
  readonly bigquery: BigQuery;
  readonly table: Table;
  private state: TableState = { status: 'checking', detail: 'not checked yet' };
  private readonly verified: Promise<void>;
  private markVerified!: () => void;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly config: AppConfig) {
    // The sink retries on its own terms; the client's own retries would hide failures from it.
    this.bigquery = createBigQuery(config, { autoRetry: false });
    this.table = this.bigquery.dataset(config.BIGQUERY_DATASET).table(config.BIGQUERY_TABLE);
    this.verified = new Promise((resolve) => (this.markVerified = resolve));
  }

  get id(): string {
    return tableId(this.config.BIGQUERY_PROJECT_ID, this.config.BIGQUERY_DATASET, this.config.BIGQUERY_TABLE);
  }

  get health(): TableState {
    return this.state;
  }

  /** Resolves once the table exists and fits the plays schema. */
  whenReady(): Promise<void> {
    return this.verified;
  }

  onApplicationBootstrap(): void {
    void this.check(0);
  }

  onApplicationShutdown(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  private async check(attempt: number): Promise<void> {
    if (this.stopped) return;
    try {
      const { problems, warnings } = await this.ensure();
      for (const warning of warnings) this.logger.warn(`table ${this.id}: ${warning}`);
      if (problems.length === 0) {
        this.state = { status: 'ready', detail: `${this.id} is ready` };
        this.logger.log(this.state.detail);
        this.markVerified();
        if (this.config.BIGQUERY_CREATE_TABLE) await this.ensureTopSongsView();
        return;
      }
      this.state = {
        status: 'incompatible',
        detail: `table ${this.id} cannot take plays: ${problems.join('; ')}. Fix or drop the table; checking again every ${RECHECK_MS / 1000}s`,
      };
      this.logger.error(this.state.detail);
      this.timer = setTimeout(() => void this.check(0), RECHECK_MS);
    } catch (error) {
      const delay = backoffDelay(attempt, { minMs: 500, maxMs: RECHECK_MS });
      this.state = { status: 'unreachable', detail: `cannot check table ${this.id}: ${errorText(error)}` };
      this.logger.warn(`${this.state.detail}; retrying in ${(delay / 1000).toFixed(1)}s`);
      this.timer = setTimeout(() => void this.check(attempt + 1), delay);
    }
  }

  private async ensure(): Promise<{ problems: string[]; warnings: string[] }> {
    const dataset = this.bigquery.dataset(this.config.BIGQUERY_DATASET);
    const [datasetExists] = await dataset.exists();
    if (!datasetExists) {
      if (!this.config.BIGQUERY_CREATE_TABLE)
        return {
          problems: [`dataset ${this.config.BIGQUERY_DATASET} does not exist (BIGQUERY_CREATE_TABLE=false)`],
          warnings: [],
        };
      await dataset.create({ location: this.config.BIGQUERY_LOCATION }).catch(ignoreAlreadyExists);
      this.logger.log(`created dataset ${this.config.BIGQUERY_DATASET}`);
    }
    const [tableExists] = await this.table.exists();
    if (!tableExists) {
      if (!this.config.BIGQUERY_CREATE_TABLE)
        return { problems: ['the table does not exist (BIGQUERY_CREATE_TABLE=false)'], warnings: [] };
      await this.table
        .create({
          schema: PLAY_TABLE_SCHEMA,
          timePartitioning: { type: 'DAY', field: 'timestamp' },
          clustering: { fields: ['artist', 'song_name'] },
          description: 'Music plays streamed from Kafka by plays-pipeline',
        })
        .catch(ignoreAlreadyExists);
      this.logger.log(`created table ${this.id} (partitioned by day on timestamp, clustered on artist, song_name)`);
    }
    const [metadata] = (await this.table.getMetadata()) as unknown as [TableMetadata];
    return checkSchema(metadata.schema?.fields ?? []);
  }

  /** The all-time top-songs view for Looker Studio. Nice to have: a failure is logged, writes go on. */
  private async ensureTopSongsView(): Promise<void> {
    const name = topSongsViewName(this.config.BIGQUERY_TABLE);
    const view = this.bigquery.dataset(this.config.BIGQUERY_DATASET).table(name);
    try {
      const [exists] = await view.exists();
      if (exists) return;
      const query = topSongsViewQuery(tableRef(this.id));
      await view
        .create({ view: { query, useLegacySql: false }, description: 'Plays per song, each play counted once' })
        .catch(ignoreAlreadyExists);
      this.logger.log(`created view ${this.config.BIGQUERY_DATASET}.${name} (plays per song, for dashboards)`);
    } catch (error) {
      this.logger.warn(`cannot create view ${this.config.BIGQUERY_DATASET}.${name}: ${errorText(error)}`);
    }
  }
}

function ignoreAlreadyExists(error: unknown): void {
  if ((error as { code?: number }).code !== 409) throw error;
}
