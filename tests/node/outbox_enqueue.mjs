// The any-language producer contract, from Node with the npm `pg` client: state and events
// in one transaction through seamq.enqueue; a rolled-back transaction and an invalid
// envelope leave nothing. Prints "RESULT {json}" for tests/outbox/enqueue_itest.cpp.
// Usage: node outbox_enqueue.mjs postgresql://...
import { randomUUID } from 'node:crypto';
import pg from 'pg';

const client = new pg.Client({ connectionString: process.argv[2], application_name: 'node-outbox-test' });
await client.connect();

const envelope = (id) => ({
  specversion: '1.0',
  id,
  source: '/vibespro/specs',
  type: 'vibespro.event.spec-published.v1',
  subject: 'spec-7',
  data: { spec_id: 'spec-7', from: 'node-pg' },
});

const result = { committed_ids: [] };
try {
  await client.query('CREATE TABLE specs (id text PRIMARY KEY)');

  // Committed: business row + two events, atomically.
  await client.query('BEGIN');
  await client.query('INSERT INTO specs VALUES ($1)', ['spec-7']);
  for (let i = 0; i < 2; i++) {
    const { rows } = await client.query('SELECT seamq.enqueue($1::jsonb) AS id', [JSON.stringify(envelope(randomUUID()))]);
    result.committed_ids.push(rows[0].id);
  }
  await client.query('COMMIT');

  // Rolled back: nothing stays.
  await client.query('BEGIN');
  await client.query('SELECT seamq.enqueue($1::jsonb)', [JSON.stringify(envelope(randomUUID()))]);
  await client.query('ROLLBACK');

  // Invalid type: a clear error with sea-mq's SQLSTATE.
  try {
    await client.query('SELECT seamq.enqueue($1::jsonb)', [
      JSON.stringify({ ...envelope(randomUUID()), type: 'vibespro.spec-published' }),
    ]);
  } catch (error) {
    result.invalid_code = error.code;
    result.invalid_message = error.message;
    result.invalid_hint = error.hint;
  }
} finally {
  await client.end();
}
console.log('RESULT ' + JSON.stringify(result));
