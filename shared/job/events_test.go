package job_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/redub/redub/shared/job"
)

// undispatched reads the outbox as the webhook dispatcher does, marking
// what it read.
func undispatched(t *testing.T, b bundle) []job.Event {
	t.Helper()
	var evs []job.Event
	require.NoError(t, b.db.WithTx(context.Background(), func(tx pgx.Tx) error {
		var err error
		if evs, err = b.store.UndispatchedEventsTx(context.Background(), tx, 100); err != nil {
			return err
		}
		ids := make([]uuid.UUID, len(evs))
		for i, e := range evs {
			ids[i] = e.ID
		}
		return b.store.MarkDispatchedTx(context.Background(), tx, ids)
	}))
	return evs
}

// TestAJobsEndIsInTheOutbox: each way a job ends writes one event, with the
// end, and a repeat of the end writes none; a step that succeeds with a step
// after it writes one job.progress.
func TestAJobsEndIsInTheOutbox(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	opts := job.ClaimOptions{Lease: 30 * time.Second, MaxAttempts: 3}

	done, _, err := b.store.Create(ctx, job.NewJob{UserID: b.user, AssetID: b.asset, Recipe: job.Transcode})
	require.NoError(t, err)
	c, err := b.store.Claim(ctx, done.ID, "transcode", opts)
	require.NoError(t, err)
	f, err := b.store.Succeed(ctx, done.ID, "transcode", c.Attempt, nil, nil)
	require.NoError(t, err)
	require.True(t, f.Recorded)

	failed, _, err := b.store.Create(ctx, job.NewJob{UserID: b.user, AssetID: b.asset, Recipe: job.Captions})
	require.NoError(t, err)
	_, err = b.store.Claim(ctx, failed.ID, "transcode", opts)
	require.NoError(t, err)
	changed, err := b.store.Fail(ctx, failed.ID, "transcode", "the file is not media")
	require.NoError(t, err)
	require.True(t, changed)
	changed, err = b.store.Fail(ctx, failed.ID, "transcode", "again")
	require.NoError(t, err)
	require.False(t, changed)

	canceled, _, err := b.store.Create(ctx, job.NewJob{UserID: b.user, AssetID: b.asset, Recipe: job.Transcode})
	require.NoError(t, err)
	_, err = b.store.Cancel(ctx, b.user, canceled.ID)
	require.NoError(t, err)

	running, _, err := b.store.Create(ctx, job.NewJob{UserID: b.user, AssetID: b.asset, Recipe: job.Captions})
	require.NoError(t, err)
	c, err = b.store.Claim(ctx, running.ID, "transcode", opts)
	require.NoError(t, err)
	_, err = b.store.Succeed(ctx, running.ID, "transcode", c.Attempt, nil, nil) // transcribe is next: not an end, a progress
	require.NoError(t, err)
	f, err = b.store.Succeed(ctx, running.ID, "transcode", c.Attempt, nil, nil) // a repeat records nothing
	require.NoError(t, err)
	require.False(t, f.Recorded)

	got := map[uuid.UUID]string{}
	for _, e := range undispatched(t, b) {
		require.NotContains(t, got, e.JobID, "one event per end")
		got[e.JobID] = e.Type
		require.Equal(t, b.user, e.UserID)
		if e.Type == job.EventProgress {
			require.Equal(t, "transcode", e.Step)
			require.NotNil(t, e.Progress)
			require.InDelta(t, 50, *e.Progress, 1e-6, "one of captions' two steps done")
		} else {
			require.Empty(t, e.Step)
			require.Nil(t, e.Progress)
		}
	}
	require.Equal(t, map[uuid.UUID]string{done.ID: "job.succeeded", failed.ID: "job.failed", canceled.ID: "job.canceled",
		running.ID: "job.progress"}, got)
	require.Empty(t, undispatched(t, b), "dispatched events are not handed out again")
}

// TestEventsOutliveTheirJob: deleting an asset ends its running job as
// canceled, and the event stays (for the metrics and the webhooks) after the
// job is gone, until PruneEvents finds it metered and two days old.
func TestEventsOutliveTheirJob(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	j, _, err := b.store.Create(ctx, job.NewJob{UserID: b.user, AssetID: b.asset, Recipe: job.Transcode})
	require.NoError(t, err)
	require.NoError(t, b.db.WithTx(ctx, func(tx pgx.Tx) error {
		if err := job.EndAssetJobsTx(ctx, tx, b.asset); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `DELETE FROM assets WHERE id = $1`, b.asset)
		return err
	}))
	var evs []job.Event
	n, err := b.store.MeterEnds(ctx, 0, 10, func(_ context.Context, got []job.Event) error { evs = got; return nil })
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.Equal(t, j.ID, evs[0].JobID)
	require.Equal(t, job.EventCanceled, evs[0].Type)
	require.True(t, evs[0].JobGone)
	require.Equal(t, "deleted with its asset", *evs[0].Error)
	require.Equal(t, j.CreatedAt.UnixMicro(), evs[0].JobCreatedAt.UnixMicro())

	pruned, err := b.store.PruneEvents(ctx)
	require.NoError(t, err)
	require.Zero(t, pruned, "a fresh event stays: its deliveries may still be retried")
	_, err = b.db.Exec(ctx, `UPDATE job_events SET created_at = now() - interval '3 days' WHERE job_id = $1`, j.ID)
	require.NoError(t, err)
	pruned, err = b.store.PruneEvents(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, pruned)
}
