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

-- The outbound edge: webhook endpoints (managed with `sea-mq webhooks`), each read by
-- its own durable JetStream consumer `webhook-<name>` on the context's events stream.
CREATE TABLE seamq.webhook_endpoints (
    name            text        PRIMARY KEY CHECK (name ~ '^[A-Za-z0-9_-]{1,64}$'),
    subject_filter  text        NOT NULL,
    url             text        NOT NULL CHECK (url ~ '^https?://'),
    -- whsec_ secret: whoever may read this table may sign as sea-mq to this partner.
    secret          text        NOT NULL CHECK (secret LIKE 'whsec\_%'),
    enabled         boolean     NOT NULL DEFAULT true,
    disabled_reason text,
    disabled_at     timestamptz,
    -- The first failed attempt since the last delivered one; disabled after failing_period.
    failing_since   timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (enabled OR disabled_reason IS NOT NULL)
);

-- Every delivery attempt: what was sent where, and how it ended.
CREATE TABLE seamq.webhook_attempts (
    id           bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    endpoint     text        NOT NULL,
    event_id     text        NOT NULL,
    attempt      integer     NOT NULL,
    outcome      text        NOT NULL CHECK (outcome IN ('delivered', 'retry', 'gone', 'refused')),
    http_status  integer,
    response     text,
    error        text,
    address      text,
    duration_ms  integer     NOT NULL,
    attempted_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_attempts_endpoint ON seamq.webhook_attempts (endpoint, attempted_at DESC);
CREATE INDEX webhook_attempts_event ON seamq.webhook_attempts (event_id);
