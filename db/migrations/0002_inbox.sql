-- 0002_inbox: the inbox (seamq.inbox_messages). A consumer records (consumer, message_id)
-- in the same transaction as its handler's effects; the primary key turns a redelivery or
-- a republished copy of the same envelope into a no-op. Rows follow
-- schemas/events/messaging/inbox-message.schema.json. How the consumer uses the table:
-- src/inbox/README.md. Applied by `sea-mq db migrate` inside a transaction.

CREATE TABLE seamq.inbox_messages (
    consumer        text        NOT NULL CHECK (length(consumer) BETWEEN 1 AND 200),
    -- Printable ASCII, 1..200: said without a bounded repetition, which PostgreSQL's regex
    -- engine runs slowly (this CHECK was 64% of the inbox backend's CPU as '^[!-~]{1,200}$').
    message_id      text        NOT NULL CHECK (length(message_id) BETWEEN 1 AND 200 AND message_id !~ '[^!-~]'),
    -- processing: seen, effects not committed (only failed attempts so far);
    -- processed: effects committed; failed: dead-lettered (a replay may still process it).
    status          text        NOT NULL DEFAULT 'processing'
                                CHECK (status IN ('processing', 'processed', 'failed')),
    attempts        integer     NOT NULL DEFAULT 1 CHECK (attempts >= 1),
    first_seen_at   timestamptz NOT NULL DEFAULT now(),
    processed_at    timestamptz,
    last_error      text,
    -- Where the latest delivery came from (for operators; not part of the key).
    stream          text,
    stream_sequence bigint      CHECK (stream_sequence >= 1),
    PRIMARY KEY (consumer, message_id),
    CONSTRAINT inbox_messages_processed_has_time CHECK (status <> 'processed' OR processed_at IS NOT NULL)
);

COMMENT ON TABLE seamq.inbox_messages IS
    'sea-mq inbox: one row per (consumer, envelope id) handled; written in the handler''s transaction, so effects happen once. Processed rows older than the retention horizon are removed by the worker.';

-- Retention deletes the oldest processed rows in small batches: a partial index keeps
-- that scan short however many rows are still in the window.
CREATE INDEX inbox_messages_processed_at ON seamq.inbox_messages (processed_at) WHERE status = 'processed';
