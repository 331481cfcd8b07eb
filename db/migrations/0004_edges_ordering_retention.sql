-- The outbound edge, continued (0003_edges): ordered endpoints, failure classes in the
-- attempts log, and indexes for the retention the worker runs on both edge tables.

-- An ordered endpoint is sent one event at a time: its consumer has max_ack_pending 1,
-- so an event being retried holds back every later one (src/edges/README.md says why
-- the whole endpoint, not only the event's ordering key).
ALTER TABLE seamq.webhook_endpoints ADD COLUMN ordered boolean NOT NULL DEFAULT false;

-- Why an attempt failed, one of a fixed set (edges::FailureClass): 'none' when delivered.
ALTER TABLE seamq.webhook_attempts ADD COLUMN failure_class text;

-- Retention deletes the oldest attempts in batches (outbound.attempts_retention);
-- seamq.inbound_deliveries already has its index on received_at.
CREATE INDEX webhook_attempts_attempted_at ON seamq.webhook_attempts (attempted_at);

-- A secret is stored as given (whsec_...) or sealed with the worker's
-- outbound.secrets_key (enc:v1:..., edges::SecretBox: AES-256-GCM, the name bound in).
ALTER TABLE seamq.webhook_endpoints DROP CONSTRAINT webhook_endpoints_secret_check;
ALTER TABLE seamq.webhook_endpoints ADD CONSTRAINT webhook_endpoints_secret_check
    CHECK (secret LIKE 'whsec\_%' OR secret LIKE 'enc:v1:%');
