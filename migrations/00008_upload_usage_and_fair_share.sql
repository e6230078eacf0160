-- +goose Up
-- Fair use (issue 13). The daily upload quota counts the bytes accepted each
-- UTC day in a counter that deleting an asset does not lower (before, the
-- quota summed the live assets, so deleting one gave its bytes back). Owned
-- by shared/asset. Today's and yesterday's uploads are carried over, so the
-- quota holds across the deploy.
CREATE TABLE upload_usage (
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    day        date NOT NULL,
    bytes      bigint NOT NULL DEFAULT 0 CHECK (bytes >= 0),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, day)
);
INSERT INTO upload_usage (user_id, day, bytes)
SELECT user_id, (created_at AT TIME ZONE 'UTC')::date, sum(size_bytes)
FROM assets WHERE created_at >= now() - interval '2 days'
GROUP BY 1, 2;

-- A step parked by the fair-share claim (shared/job fair.go): queued, unsent,
-- waiting for one of its user's steps of that kind to end. Unpark clears it
-- as it takes the step, so two wake-ups do not send one step twice.
ALTER TABLE job_steps ADD COLUMN parked_at timestamptz;

-- The per-user counts the job caps and the fair-share claim make: a user's
-- active jobs, and the running or waiting steps of a kind.
CREATE INDEX jobs_user_active_idx ON jobs (user_id) WHERE status IN ('queued', 'running');
CREATE INDEX job_steps_waiting_idx ON job_steps (step, updated_at) WHERE status IN ('queued', 'running');

-- +goose Down
DROP INDEX job_steps_waiting_idx;
DROP INDEX jobs_user_active_idx;
ALTER TABLE job_steps DROP COLUMN parked_at;
DROP TABLE upload_usage;
