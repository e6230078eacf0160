-- +goose Up
-- dispatch counts the messages sent for a step: every message carries the
-- number it was sent with (its "attempt"), so a dead-lettered or late message
-- of an older send can be told from the step's current one. Existing rows get
-- 1, the number every message of the old code carried.
ALTER TABLE job_steps ADD COLUMN dispatch integer NOT NULL DEFAULT 1;

-- Expired leases are found among running steps by updated_at.
CREATE INDEX job_steps_running_idx ON job_steps (updated_at) WHERE status = 'running';

-- +goose Down
DROP INDEX job_steps_running_idx;
ALTER TABLE job_steps DROP COLUMN dispatch;
