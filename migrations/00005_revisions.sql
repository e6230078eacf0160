-- +goose Up
-- Edit and re-render (issue 11): a voiceover job's segments can be edited and
-- the job rendered again as revision n+1. jobs.revision is the revision the
-- job is at (1 until the first re-render); job_revisions keeps each
-- re-render's idempotency key; job_segment_edits holds each segment's
-- edited fields (NULL: unchanged), which the synthesize and mix steps of
-- later revisions apply. All three are owned by shared/job.
ALTER TABLE jobs ADD COLUMN revision integer NOT NULL DEFAULT 1;

CREATE TABLE job_revisions (
    job_id uuid NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    revision integer NOT NULL CHECK (revision >= 2),
    idempotency_key text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (job_id, revision),
    UNIQUE (job_id, idempotency_key)
);

CREATE TABLE job_segment_edits (
    job_id uuid NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    segment integer NOT NULL CHECK (segment >= 0),
    text text,
    translation text,
    speaker text,
    voice text,
    start_s double precision,
    end_s double precision,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (job_id, segment)
);

-- +goose Down
DROP TABLE job_segment_edits;
DROP TABLE job_revisions;
ALTER TABLE jobs DROP COLUMN revision;
