-- +goose Up
-- The job_events outbox becomes the one source of the job-end metrics
-- (JobsSucceeded/Failed/Canceled, JobDuration, JobCostUSD): the sweeper
-- writes them once per end event and marks it metered (shared/cost Ends,
-- through shared/job MeterEnds), whoever ended the job: the last step, the
-- API's cancel, the sweeper's dead-letter verdict or a deleted asset.
--
-- Events written before this migration were metered by the step that ended
-- their job (or never will be): they count as metered.
ALTER TABLE job_events ADD COLUMN metered_at timestamptz;
UPDATE job_events SET metered_at = created_at;
CREATE INDEX job_events_unmetered_idx ON job_events (created_at) WHERE metered_at IS NULL;

-- A job's creation, for JobDuration once the job row may be gone.
ALTER TABLE job_events ADD COLUMN job_created_at timestamptz;
UPDATE job_events e SET job_created_at = j.created_at FROM jobs j WHERE j.id = e.job_id;
ALTER TABLE job_events ALTER COLUMN job_created_at SET NOT NULL;

-- An event outlives its job: deleting an asset ends its running jobs
-- (job.canceled) and then deletes them, and the end must still be metered
-- and delivered. shared/job prunes the events of deleted jobs once they are
-- metered and dispatched.
ALTER TABLE job_events DROP CONSTRAINT job_events_job_id_fkey;
CREATE INDEX job_events_job_idx ON job_events (job_id);

-- job.progress: a step that succeeded and was not the last, at most once
-- per step run. step is '' for the end events.
ALTER TABLE job_events ADD COLUMN step text NOT NULL DEFAULT '';
ALTER TABLE job_events ADD COLUMN progress_percent real;
ALTER TABLE job_events DROP CONSTRAINT job_events_type_check;
ALTER TABLE job_events ADD CONSTRAINT job_events_type_check
    CHECK (type IN ('job.succeeded', 'job.failed', 'job.canceled', 'job.progress'));
ALTER TABLE job_events DROP CONSTRAINT job_events_job_id_type_finished_at_key;
ALTER TABLE job_events ADD CONSTRAINT job_events_job_id_type_step_finished_at_key UNIQUE (job_id, type, step, finished_at);

-- +goose Down
DELETE FROM job_events WHERE type = 'job.progress';
ALTER TABLE job_events DROP CONSTRAINT job_events_job_id_type_step_finished_at_key;
ALTER TABLE job_events ADD CONSTRAINT job_events_job_id_type_finished_at_key UNIQUE (job_id, type, finished_at);
ALTER TABLE job_events DROP CONSTRAINT job_events_type_check;
ALTER TABLE job_events ADD CONSTRAINT job_events_type_check
    CHECK (type IN ('job.succeeded', 'job.failed', 'job.canceled'));
ALTER TABLE job_events DROP COLUMN progress_percent;
ALTER TABLE job_events DROP COLUMN step;
DROP INDEX job_events_job_idx;
DELETE FROM job_events e WHERE NOT EXISTS (SELECT 1 FROM jobs j WHERE j.id = e.job_id);
ALTER TABLE job_events ADD CONSTRAINT job_events_job_id_fkey FOREIGN KEY (job_id) REFERENCES jobs (id) ON DELETE CASCADE;
ALTER TABLE job_events DROP COLUMN job_created_at;
DROP INDEX job_events_unmetered_idx;
ALTER TABLE job_events DROP COLUMN metered_at;
