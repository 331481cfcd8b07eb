// The peer of sea-mq's outbox benchmark (bench/outbox_bench.cpp): the npm package
// pg-transactional-outbox relaying outbox rows to JetStream with the npm `nats` client,
// in its polling mode (initializePollingMessageListener) or its logical replication mode
// (initializeReplicationMessageListener). The benchmark fills the table and runs the
// producers; this process only relays, and reports what it published and when.
//
// Usage: node bench_peer.mjs CONFIG.json   (written by the benchmark; see run_peer there)
// Phases: "setup" creates the table and polling function with the package's own
// DatabaseSetup; "drain" relays until `expect` events are acknowledged or time runs out;
// "steady" does the same and records each PubAck's wall-clock time (µs) per event id.
// Writes config.result_file; touches config.ready_file once the listener runs.
import { readFileSync, writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { connect } from 'nats';
import outbox from 'pg-transactional-outbox';

const {
  DatabaseSetup,
  getDisabledLogger,
  initializePollingMessageListener,
  initializeReplicationMessageListener,
  createReplicationSegmentMutexConcurrencyController,
} = outbox;

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const wallMicros = () => Math.round((performance.timeOrigin + performance.now()) * 1000);
const dbConfig = { ...config.postgres, application_name: `peer-${config.mode}-${config.phase}` };

if (config.phase === 'setup') {
  const setup = {
    outboxOrInbox: 'outbox',
    database: config.postgres.database,
    schema: 'public',
    table: 'outbox',
    listenerRole: config.postgres.user,
    nextMessagesName: 'next_outbox_messages',
  };
  const client = new pg.Client(dbConfig);
  await client.connect();
  await client.query(DatabaseSetup.dropAndCreateTable(setup));
  await client.query(DatabaseSetup.createPollingFunction(setup));
  await client.query(DatabaseSetup.setupPollingIndexes(setup));
  await client.end();
  writeFileSync(config.result_file, JSON.stringify({ ok: true }));
  process.exit(0);
}

const nc = await connect({ servers: config.nats_url, name: `peer-${config.mode}` });
const js = nc.jetstream();
const encoder = new TextEncoder();

const result = { mode: config.mode, phase: config.phase, acked: 0, duplicates: 0, errors: 0, acks: [] };
let resolveDone;
const done = new Promise((resolve) => (resolveDone = resolve));

// The message handler: publish the stored envelope, Nats-Msg-Id = message id, to the
// message type's subject, expecting the benchmark's stream; wait for the PubAck. The
// package marks the row processed in the same transaction after this returns.
const messagePublisher = {
  handle: async (message) => {
    const ack = await js.publish(message.messageType, encoder.encode(JSON.stringify(message.payload)), {
      msgID: message.id,
      expect: { streamName: config.stream },
    });
    if (ack.duplicate) result.duplicates++;
    result.acked++;
    if (config.record_acks) result.acks.push([message.id, wallMicros()]);
    if (result.acked >= config.expect) resolveDone();
  },
  handleError: async (error) => {
    result.errors++;
    if (result.errors <= 5) console.error(`peer: publish failed: ${error.message}`);
  },
};

const settings = {
  dbSchema: 'public',
  dbTable: 'outbox',
  enableMaxAttemptsProtection: false,
  enablePoisonousMessageProtection: false,
  messageCleanupIntervalInMs: 0,
};
const handlerPool = { ...dbConfig, max: config.pool_size };
const logger = getDisabledLogger();

const started = wallMicros();
let shutdown;
if (config.mode === 'polling') {
  [shutdown] = initializePollingMessageListener(
    {
      outboxOrInbox: 'outbox',
      dbListenerConfig: dbConfig,
      dbHandlerConfig: handlerPool,
      settings: {
        ...settings,
        nextMessagesFunctionName: 'next_outbox_messages',
        nextMessagesFunctionSchema: 'public',
        nextMessagesBatchSize: config.batch_size,
        nextMessagesPollingIntervalInMs: config.poll_interval_ms,
        nextMessagesLockInMs: 30000,
      },
    },
    messagePublisher,
    logger,
  );
} else if (config.mode === 'replication') {
  [shutdown] = initializeReplicationMessageListener(
    {
      outboxOrInbox: 'outbox',
      dbListenerConfig: dbConfig,
      dbHandlerConfig: handlerPool,
      settings: {
        ...settings,
        dbPublication: config.publication,
        dbReplicationSlot: config.replication_slot,
      },
    },
    messagePublisher,
    logger,
    // Per-segment (ordering key) sequential processing, as sea-mq's relay per key.
    { concurrencyStrategy: createReplicationSegmentMutexConcurrencyController() },
  );
} else {
  throw new Error(`unknown mode ${config.mode}`);
}
writeFileSync(config.ready_file, String(started));

const limit = setTimeout(resolveDone, config.time_limit_ms);
await done;
clearTimeout(limit);
const finished = wallMicros();
result.seconds = (finished - started) / 1e6;
result.started_us = started;
// Stop without waiting for in-flight messages: their acks no longer count.
const final = { ...result, acks: result.acks.slice() };
writeFileSync(config.result_file, JSON.stringify(final));
await Promise.race([shutdown(), new Promise((resolve) => setTimeout(resolve, 5000))]);
await Promise.race([nc.close(), new Promise((resolve) => setTimeout(resolve, 2000))]);
process.exit(0);
