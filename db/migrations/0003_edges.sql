-- The inbound edge's deduplication: one row per accepted partner delivery, written in
-- the transaction that appends its command to the outbox, so a replayed webhook-id finds
-- its row and appends nothing (answered 2xx "duplicate" with the first event id).
CREATE TABLE seamq.inbound_deliveries (
    partner     text        NOT NULL,
    webhook_id  text        NOT NULL,
    event_id    text        NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (partner, webhook_id)
);
COMMENT ON TABLE seamq.inbound_deliveries IS
    'Partner deliveries accepted by the inbound edge (POST /v1/inbound/{partner}), keyed by the webhook-id the partner sent.';
-- For a retention job deleting the oldest rows (a partner retries within hours, not months).
CREATE INDEX inbound_deliveries_received_at ON seamq.inbound_deliveries (received_at);
