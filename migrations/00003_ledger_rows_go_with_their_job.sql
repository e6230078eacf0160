-- +goose Up
-- A paid call's row (and so its stored result under jobs/<job>/) goes with
-- the job that paid for it: deleting an asset removes its jobs' ledger rows.
-- Before, they outlived the job (SET NULL) and a later job could be handed a
-- result whose object had been deleted with the asset.
ALTER TABLE provider_calls DROP CONSTRAINT provider_calls_job_id_fkey;
ALTER TABLE provider_calls ADD CONSTRAINT provider_calls_job_id_fkey
    FOREIGN KEY (job_id) REFERENCES jobs (id) ON DELETE CASCADE;

-- +goose Down
ALTER TABLE provider_calls DROP CONSTRAINT provider_calls_job_id_fkey;
ALTER TABLE provider_calls ADD CONSTRAINT provider_calls_job_id_fkey
    FOREIGN KEY (job_id) REFERENCES jobs (id) ON DELETE SET NULL;
