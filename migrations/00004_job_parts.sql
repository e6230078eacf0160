-- +goose Up
-- Parts of a step whose work grows with the media's length (segment
-- fan-out, DESIGN.md section 12). Each part is its own message and its own
-- invocation, with its own lease (status running + updated_at), attempts and
-- dispatch number, like a step. shared/job owns the table.
CREATE TABLE job_parts (
    job_id uuid NOT NULL,
    step text NOT NULL,
    part integer NOT NULL,
    start_ms bigint NOT NULL,
    end_ms bigint NOT NULL,
    status text DEFAULT 'queued' NOT NULL,
    attempts integer DEFAULT 0 NOT NULL,
    dispatch integer DEFAULT 1 NOT NULL,
    error text,
    billed_ms bigint,
    memory_mb integer,
    enqueued_at timestamp with time zone,
    started_at timestamp with time zone,
    finished_at timestamp with time zone,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT job_parts_pkey PRIMARY KEY (job_id, step, part),
    CONSTRAINT job_parts_step_fkey FOREIGN KEY (job_id, step) REFERENCES job_steps (job_id, step) ON DELETE CASCADE,
    CONSTRAINT job_parts_part_check CHECK (part >= 1),
    CONSTRAINT job_parts_range_check CHECK (start_ms >= 0 AND end_ms > start_ms),
    CONSTRAINT job_parts_status_check CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'canceled'))
);

-- The sweeper looks for running parts whose lease ran out.
CREATE INDEX job_parts_running_idx ON job_parts (updated_at) WHERE status = 'running';

-- +goose Down
DROP TABLE job_parts;
