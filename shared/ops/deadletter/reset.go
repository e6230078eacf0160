package deadletter

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/redub/redub/shared/job"
	"github.com/redub/redub/shared/postgres"
	"github.com/redub/redub/shared/queue"
)

// JobReset is the Resetter of `redub dlq redrive --reset-jobs`: it makes a
// job that failed at a message's step runnable again.
type JobReset struct {
	DB *postgres.DB
}

// Reset sets m's job back to running and m's step to queued, with its
// attempts, error, progress and times cleared and enqueued_at now, and the
// later steps the failure canceled back to pending, all in one transaction.
// It does so only when the job failed at that step: a running job needs
// nothing, and a job that succeeded, was canceled, failed at another step or
// no longer exists is left as it is (the step drops the message, as for any
// message of a finished job). Those cases are a ResetResult with Done false
// and a note; the error is for a database failure only.
func (r JobReset) Reset(ctx context.Context, m queue.Message) (ResetResult, error) {
	res := ResetResult{JobID: m.JobID.String(), Step: m.Step}
	err := r.DB.WithTx(ctx, func(tx pgx.Tx) error {
		var (
			status    job.Status
			canceled  bool
			stepState job.Status
			position  int
		)
		// Job first, then step: the order the step runner locks them in.
		err := tx.QueryRow(ctx, `SELECT status, cancel_requested FROM jobs WHERE id = $1 FOR UPDATE`, m.JobID).Scan(&status, &canceled)
		if errors.Is(err, pgx.ErrNoRows) {
			res.Note = "job no longer exists: the step will drop the message"
			return nil
		}
		if err != nil {
			return fmt.Errorf("lock job: %w", err)
		}
		err = tx.QueryRow(ctx, `SELECT status, position FROM job_steps WHERE job_id = $1 AND step = $2 FOR UPDATE`, m.JobID, m.Step).
			Scan(&stepState, &position)
		if errors.Is(err, pgx.ErrNoRows) {
			res.Note = fmt.Sprintf("job has no step %q: the step will drop the message", m.Step)
			return nil
		}
		if err != nil {
			return fmt.Errorf("lock step: %w", err)
		}
		switch {
		case canceled || status == job.Canceled:
			res.Note = "job was canceled: left canceled"
			return nil
		case status == job.Succeeded:
			res.Note = "job succeeded: nothing to redo (the step drops the message as a repeat)"
			return nil
		case !status.Terminal():
			res.Note = fmt.Sprintf("job is %s: nothing to reset (step %s is %s)", status, m.Step, stepState)
			return nil
		case stepState != job.Failed:
			res.Note = fmt.Sprintf("job failed, but not at %s (which is %s): left failed", m.Step, stepState)
			return nil
		}
		if _, err := tx.Exec(ctx, `UPDATE job_steps SET status = 'queued', attempts = 0, error = NULL, progress_percent = 0,
			progress_stage = '', started_at = NULL, finished_at = NULL, enqueued_at = now(), updated_at = now()
			WHERE job_id = $1 AND step = $2`, m.JobID, m.Step); err != nil {
			return fmt.Errorf("requeue step: %w", err)
		}
		if _, err := tx.Exec(ctx, `UPDATE job_steps SET status = 'pending', finished_at = NULL, updated_at = now()
			WHERE job_id = $1 AND position > $2 AND status = 'canceled'`, m.JobID, position); err != nil {
			return fmt.Errorf("restore later steps: %w", err)
		}
		if _, err := tx.Exec(ctx, `UPDATE jobs SET status = 'running', error = NULL, finished_at = NULL, updated_at = now()
			WHERE id = $1`, m.JobID); err != nil {
			return fmt.Errorf("restart job: %w", err)
		}
		res.Done = true
		res.Note = fmt.Sprintf("job set back to running; %s queued with its attempts reset", m.Step)
		return nil
	})
	if err != nil {
		return ResetResult{JobID: res.JobID, Step: res.Step}, fmt.Errorf("reset job %s: %w", m.JobID, err)
	}
	return res, nil
}
