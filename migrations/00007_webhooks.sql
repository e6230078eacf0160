-- +goose Up
-- The outbox of job ends, owned by shared/job: one row written in the same
-- transaction that ends a job (succeeded, failed, canceled), so an event can
-- be lost neither before nor after the commit. shared/webhook turns each row
-- into deliveries and marks it dispatched. finished_at tells a job that
-- ended twice (a dead-letter reset ran it again) from a repeat of one end.
CREATE TABLE job_events (
    id uuid PRIMARY KEY,
    job_id uuid NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    user_id uuid NOT NULL,
    type text NOT NULL CHECK (type IN ('job.succeeded', 'job.failed', 'job.canceled')),
    recipe text NOT NULL,
    asset_id uuid NOT NULL,
    error text,
    finished_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    dispatched_at timestamptz,
    UNIQUE (job_id, type, finished_at)
);
CREATE INDEX job_events_undispatched_idx ON job_events (created_at) WHERE dispatched_at IS NULL;

-- A user's webhook endpoints, owned by shared/webhook. The secret signs
-- every delivery (Standard Webhooks); it is shown once, at creation.
CREATE TABLE webhooks (
    id uuid PRIMARY KEY,
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    url text NOT NULL,
    description text NOT NULL DEFAULT '',
    events text[] NOT NULL,
    secret text NOT NULL,
    idempotency_key text,
    request_hash bytea,
    disabled_at timestamptz,
    disabled_reason text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (user_id, idempotency_key)
);
CREATE INDEX webhooks_user_idx ON webhooks (user_id, created_at);

-- One event for one endpoint; its id is the webhook-id header, the same on
-- every attempt. event_id is the job_events row (NULL for a test event).
-- A pending delivery's message is on the queue (sent_at set) or due to be
-- sent by the sweeper at next_attempt_at (a retry wait longer than SQS's
-- 15-minute delay), so recovery comes from this row, not from SQS.
CREATE TABLE webhook_deliveries (
    id uuid PRIMARY KEY,
    webhook_id uuid NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event_id uuid REFERENCES job_events (id) ON DELETE CASCADE,
    type text NOT NULL,
    payload jsonb NOT NULL,
    status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'succeeded', 'failed')),
    attempts integer NOT NULL DEFAULT 0,
    leased_until timestamptz,
    sent_at timestamptz,
    next_attempt_at timestamptz,
    last_status integer,
    last_error text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    UNIQUE (webhook_id, event_id)
);
CREATE INDEX webhook_deliveries_webhook_idx ON webhook_deliveries (webhook_id, created_at DESC);
CREATE INDEX webhook_deliveries_unsent_idx ON webhook_deliveries (created_at) WHERE sent_at IS NULL;

-- Each try of a delivery: what the receiver answered, or why it could not.
CREATE TABLE webhook_attempts (
    delivery_id uuid NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    attempt integer NOT NULL,
    started_at timestamptz NOT NULL,
    duration_ms integer NOT NULL,
    status integer,
    error text,
    PRIMARY KEY (delivery_id, attempt)
);

-- +goose Down
DROP TABLE webhook_attempts;
DROP TABLE webhook_deliveries;
DROP TABLE webhooks;
DROP TABLE job_events;
