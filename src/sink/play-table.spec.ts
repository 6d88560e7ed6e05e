import type { TableField } from '@google-cloud/bigquery';
import { checkSchema, PLAY_TABLE_SCHEMA } from './play-table.js';

// As BigQuery answers: legacy type names.
const asReturned = (fields: TableField[]) =>
  fields.map((field) => ({ ...field, type: field.type === 'INT64' ? 'INTEGER' : field.type }));

describe('checkSchema', () => {
  it('accepts the table it creates, as BigQuery describes it', () => {
    expect(checkSchema(asReturned(PLAY_TABLE_SCHEMA))).toEqual({ problems: [], warnings: [] });
  });

  it('accepts extra nullable columns and NULLABLE where we write REQUIRED', () => {
    const relaxed = asReturned(PLAY_TABLE_SCHEMA).map((field) => ({ ...field, mode: 'NULLABLE' }));
    expect(checkSchema([...relaxed, { name: 'country', type: 'STRING' }]).problems).toEqual([]);
  });

  it('names each incompatibility', () => {
    const fields = asReturned(PLAY_TABLE_SCHEMA)
      .filter((field) => field.name !== 'song_name')
      .map((field) => (field.name === 'user_id' ? { ...field, type: 'STRING' } : field));
    expect(checkSchema([...fields, { name: 'region', type: 'STRING', mode: 'REQUIRED' }]).problems).toEqual([
      'column user_id is STRING, expected INT64',
      'column song_name is missing',
      'column region is REQUIRED, but plays-pipeline does not fill it',
    ]);
  });

  it('warns, without refusing, when the table requires the optional event_id', () => {
    const strict = asReturned(PLAY_TABLE_SCHEMA).map((field) =>
      field.name === 'event_id' ? { ...field, mode: 'REQUIRED' } : field,
    );
    expect(checkSchema(strict)).toEqual({
      problems: [],
      warnings: ['column event_id is REQUIRED: plays without it will be rejected and dead-lettered'],
    });
  });
});
