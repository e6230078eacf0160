-- +goose Up
-- The first schema: people and their sessions, uploaded assets, jobs with their
-- steps and outputs, rate-limit counters and the ledger of paid provider calls.

CREATE TABLE users (
    id          uuid PRIMARY KEY,
    google_sub  text UNIQUE,
    email       text NOT NULL,
    name        text NOT NULL DEFAULT '',
    picture_url text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email_lower_idx ON users (lower(email));

CREATE TABLE sessions (
    id           uuid PRIMARY KEY,
    user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash   bytea NOT NULL UNIQUE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    revoked_at   timestamptz,
    ip           text NOT NULL DEFAULT '',
    user_agent   text NOT NULL DEFAULT ''
);
CREATE INDEX sessions_user_id_idx ON sessions (user_id);

CREATE TABLE assets (
    id            uuid PRIMARY KEY,
    user_id       uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    status        text NOT NULL DEFAULT 'pending'
                  CHECK (status IN ('pending', 'ready', 'rejected')),
    kind          text CHECK (kind IN ('video', 'audio')),
    filename      text NOT NULL,
    content_type  text NOT NULL,
    size_bytes    bigint NOT NULL CHECK (size_bytes > 0),
    object_key    text NOT NULL UNIQUE,
    upload_id     text,
    recipe        text,
    params        jsonb NOT NULL DEFAULT '{}',
    probe         jsonb,
    reject_reason text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX assets_user_created_idx ON assets (user_id, created_at DESC, id DESC);
CREATE INDEX assets_pending_created_idx ON assets (created_at) WHERE status = 'pending';

CREATE TABLE jobs (
    id               uuid PRIMARY KEY,
    user_id          uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    asset_id         uuid NOT NULL REFERENCES assets (id) ON DELETE CASCADE,
    recipe           text NOT NULL,
    params           jsonb NOT NULL DEFAULT '{}',
    status           text NOT NULL DEFAULT 'queued'
                     CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'canceled')),
    idempotency_key  text,
    request_hash     bytea,
    cancel_requested boolean NOT NULL DEFAULT false,
    error            text,
    trace_id         text NOT NULL DEFAULT '',
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    started_at       timestamptz,
    finished_at      timestamptz,
    UNIQUE (user_id, idempotency_key)
);
CREATE INDEX jobs_user_created_idx ON jobs (user_id, created_at DESC, id DESC);
CREATE INDEX jobs_asset_idx ON jobs (asset_id);
CREATE INDEX jobs_active_idx ON jobs (updated_at) WHERE status IN ('queued', 'running');

CREATE TABLE job_steps (
    job_id           uuid NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    step             text NOT NULL,
    position         smallint NOT NULL,
    status           text NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'queued', 'running', 'succeeded', 'failed', 'skipped', 'canceled')),
    attempts         integer NOT NULL DEFAULT 0,
    progress_percent real NOT NULL DEFAULT 0 CHECK (progress_percent BETWEEN 0 AND 100),
    progress_stage   text NOT NULL DEFAULT '',
    error            text,
    usage            jsonb NOT NULL DEFAULT '{}',
    enqueued_at      timestamptz,
    started_at       timestamptz,
    finished_at      timestamptz,
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (job_id, step),
    UNIQUE (job_id, position)
);
CREATE INDEX job_steps_status_idx ON job_steps (status, updated_at);

CREATE TABLE outputs (
    id           uuid PRIMARY KEY,
    job_id       uuid NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    step         text NOT NULL,
    kind         text NOT NULL,
    object_key   text NOT NULL UNIQUE,
    filename     text NOT NULL,
    content_type text NOT NULL,
    size_bytes   bigint NOT NULL DEFAULT 0,
    created_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (job_id, kind)
);

-- One row per (key, window): the limiter increments with a single upsert.
CREATE TABLE rate_limits (
    bucket       text NOT NULL,
    window_start timestamptz NOT NULL,
    count        integer NOT NULL DEFAULT 0,
    expires_at   timestamptz NOT NULL,
    PRIMARY KEY (bucket, window_start)
);
CREATE INDEX rate_limits_expires_idx ON rate_limits (expires_at);

-- Calls that cost money, keyed by a hash of the request: a repeat of a call that
-- already succeeded reuses the stored result instead of paying again.
CREATE TABLE provider_calls (
    id           uuid PRIMARY KEY,
    request_hash bytea NOT NULL UNIQUE,
    provider     text NOT NULL,
    operation    text NOT NULL,
    job_id       uuid REFERENCES jobs (id) ON DELETE SET NULL,
    step         text,
    status       text NOT NULL DEFAULT 'pending'
                 CHECK (status IN ('pending', 'succeeded', 'failed')),
    attempts     integer NOT NULL DEFAULT 0,
    result       jsonb,
    result_key   text,
    usage        jsonb NOT NULL DEFAULT '{}',
    error        text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX provider_calls_job_idx ON provider_calls (job_id);

-- +goose Down
DROP TABLE provider_calls;
DROP TABLE rate_limits;
DROP TABLE outputs;
DROP TABLE job_steps;
DROP TABLE jobs;
DROP TABLE assets;
DROP TABLE sessions;
DROP TABLE users;
