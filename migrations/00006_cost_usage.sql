-- +goose Up
-- What a job used of each billable thing (Lambda GB-seconds, S3 and SQS
-- requests, stored GB-months, provider tokens, seconds and characters), one
-- row per step invocation and thing; shared/cost owns it and prices it when
-- asked, so a new price table reprices old jobs. Rows go with their job.
CREATE TABLE cost_usage (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job_id uuid NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    step text NOT NULL,
    part integer,
    attempt integer NOT NULL DEFAULT 1,
    service text NOT NULL,
    what text NOT NULL,
    quantity double precision NOT NULL CHECK (quantity >= 0),
    unit text NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX cost_usage_job_idx ON cost_usage (job_id);

-- +goose Down
DROP TABLE cost_usage;
