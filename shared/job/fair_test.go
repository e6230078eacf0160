package job_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/redub/redub/shared/job"
)

// TestUnparkWakesOnlyParkedStepsOnce: a step over its user's share is parked
// by its claim; Unpark sends nothing while the share is full, wakes the
// parked step (once) when a place frees, and never a step whose first send
// is merely in flight.
func TestUnparkWakesOnlyParkedStepsOnce(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	o := job.ClaimOptions{Lease: 30 * time.Second, MaxAttempts: 3, StepsPerUser: 2}
	var jobs []job.Job
	for range 4 {
		j, _, err := b.store.Create(ctx, job.NewJob{UserID: b.user, AssetID: b.asset, Recipe: job.Transcode})
		require.NoError(t, err)
		jobs = append(jobs, j)
	}
	for _, j := range jobs[:2] {
		c, err := b.store.Claim(ctx, j.ID, job.StepTranscode, o)
		require.NoError(t, err)
		require.Equal(t, job.Run, c.Outcome)
	}
	c, err := b.store.Claim(ctx, jobs[2].ID, job.StepTranscode, o)
	require.NoError(t, err)
	require.Equal(t, job.Drop, c.Outcome)
	require.Contains(t, c.Note, "parked")

	woken, err := b.store.Unpark(ctx, b.user, job.StepTranscode, o)
	require.NoError(t, err)
	require.Empty(t, woken, "the share is full")

	_, err = b.store.Succeed(ctx, jobs[0].ID, job.StepTranscode, 1, nil, nil)
	require.NoError(t, err)
	woken, err = b.store.Unpark(ctx, b.user, job.StepTranscode, o)
	require.NoError(t, err)
	require.Len(t, woken, 1, "one place freed; jobs[3] is queued and unsent but was never parked")
	require.Equal(t, jobs[2].ID, woken[0].JobID)
	again, err := b.store.Unpark(ctx, b.user, job.StepTranscode, o)
	require.NoError(t, err)
	require.Empty(t, again, "a woken step is not woken twice")

	c, err = b.store.Claim(ctx, jobs[2].ID, job.StepTranscode, o)
	require.NoError(t, err)
	require.Equal(t, job.Run, c.Outcome, "the woken step runs in the freed place")
}
