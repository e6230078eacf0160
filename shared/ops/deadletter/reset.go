package deadletter

import (
	"context"

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
	done, note, err := job.NewStore(r.DB).Reset(ctx, m.JobID, m.Step)
	if err != nil {
		return ResetResult{JobID: m.JobID.String(), Step: m.Step}, err
	}
	return ResetResult{JobID: m.JobID.String(), Step: m.Step, Done: done, Note: note}, nil
}
