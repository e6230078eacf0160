package pipeline

import (
	"context"

	"github.com/google/uuid"

	"github.com/redub/redub/shared/job"
)

// claimOptions are the limits of every claim this runner makes.
func (r *Runner) claimOptions() job.ClaimOptions {
	return job.ClaimOptions{Lease: r.lease(), MaxAttempts: r.maxAttempts(), StepsPerUser: r.StepsPerUser}
}

// unpark sends the user's parked steps of this kind that fit in their share
// now that one of theirs ended (job/fair.go). A failure is left to the
// sweeper, which sends unsent steps after a minute.
func (r *Runner) unpark(ctx context.Context, user uuid.UUID, step string) {
	if r.StepsPerUser <= 0 {
		return
	}
	ds, err := r.Jobs.Unpark(ctx, user, step, r.claimOptions())
	if err != nil {
		r.Log.WarnContext(ctx, "unpark failed; the sweeper will send the parked steps", "error", err.Error())
		return
	}
	for _, d := range ds {
		r.Log.InfoContext(ctx, "unparked a step of the same user", "parked_job_id", d.JobID.String())
		r.send(ctx, d)
	}
}
