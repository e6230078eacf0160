package job_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/redub/redub/shared/job"
	"github.com/redub/redub/shared/queue"
)

var partOpts = job.ClaimOptions{Lease: 30 * time.Second, MaxAttempts: 3}

// splitJob creates a transcode job, claims its step and splits it in n
// parts of a minute each.
func splitJob(t *testing.T, b bundle, n int) (job.Job, int, []job.PartDispatch) {
	t.Helper()
	ctx := t.Context()
	j, _, err := b.store.Create(ctx, job.NewJob{UserID: b.user, AssetID: b.asset, Recipe: job.Transcode, RequireReady: true})
	require.NoError(t, err)
	c, err := b.store.Claim(ctx, j.ID, job.StepTranscode, partOpts)
	require.NoError(t, err)
	require.Equal(t, job.Run, c.Outcome)
	var ranges []job.Range
	for i := range n {
		ranges = append(ranges, job.Range{Start: time.Duration(i) * time.Minute, End: time.Duration(i+1) * time.Minute})
	}
	ds, err := b.store.Split(ctx, j.ID, job.StepTranscode, c.Attempt, ranges)
	require.NoError(t, err)
	require.Len(t, ds, n)
	return j, c.Attempt, ds
}

func TestLastPartToFinishAloneSendsTheMerge(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	const n = 8
	j, _, ds := splitJob(t, b, n)

	// Every part claimed, then all finish at once: exactly one sees the set complete.
	attempts := make([]int, n)
	for i, d := range ds {
		c, err := b.store.ClaimPart(ctx, j.ID, d.Step, d.Part, partOpts)
		require.NoError(t, err)
		require.Equal(t, job.Run, c.Outcome)
		require.Equal(t, n, c.Total)
		require.Equal(t, time.Duration(i)*time.Minute, c.Range.Start)
		attempts[i] = c.Attempt
	}
	var mu sync.Mutex
	var merges []*job.Dispatch
	var wg sync.WaitGroup
	for i, d := range ds {
		wg.Go(func() {
			f, err := b.store.FinishPart(ctx, j.ID, d.Step, d.Part, attempts[i], job.PartCost{BilledMS: 1000 + int64(i), MemoryMB: 2048})
			require.NoError(t, err)
			require.True(t, f.Recorded)
			if f.Merge != nil {
				mu.Lock()
				merges = append(merges, f.Merge)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	require.Len(t, merges, 1, "one merge, never zero or two")
	require.True(t, merges[0].Message().Merge)

	// A repeat of a finished part records nothing and sends no merge.
	f, err := b.store.FinishPart(ctx, j.ID, ds[0].Step, ds[0].Part, attempts[0], job.PartCost{})
	require.NoError(t, err)
	require.False(t, f.Recorded)
	require.Nil(t, f.Merge)
	c, err := b.store.ClaimPart(ctx, j.ID, ds[0].Step, ds[0].Part, partOpts)
	require.NoError(t, err)
	require.Equal(t, job.Drop, c.Outcome)

	counts, err := b.store.PartCounts(ctx, j.ID)
	require.NoError(t, err)
	require.Equal(t, job.Parts{Total: n, Done: n, TotalMS: n * 60000, DoneMS: n * 60000}, counts[job.StepTranscode])

	var billed int64
	var mem int
	require.NoError(t, b.db.QueryRow(ctx, `SELECT sum(billed_ms), min(memory_mb) FROM job_parts WHERE job_id = $1`, j.ID).Scan(&billed, &mem))
	require.Equal(t, int64(n*1000+n*(n-1)/2), billed)
	require.Equal(t, 2048, mem)

	// The merge runs as the step's next attempt; its success ends the job.
	m, err := b.store.ClaimMerge(ctx, j.ID, job.StepTranscode, partOpts)
	require.NoError(t, err)
	require.Equal(t, job.Run, m.Outcome)
	fin, err := b.store.Succeed(ctx, j.ID, job.StepTranscode, m.Attempt, nil, nil)
	require.NoError(t, err)
	require.True(t, fin.Recorded)
	got, err := b.store.Get(ctx, b.user, j.ID)
	require.NoError(t, err)
	require.Equal(t, job.Succeeded, got.Status)
}

func TestMergeWaitsForEveryPart(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	j, _, ds := splitJob(t, b, 2)
	c, err := b.store.ClaimPart(ctx, j.ID, ds[0].Step, ds[0].Part, partOpts)
	require.NoError(t, err)
	f, err := b.store.FinishPart(ctx, j.ID, ds[0].Step, ds[0].Part, c.Attempt, job.PartCost{})
	require.NoError(t, err)
	require.True(t, f.Recorded)
	require.Nil(t, f.Merge)
	m, err := b.store.ClaimMerge(ctx, j.ID, job.StepTranscode, partOpts)
	require.NoError(t, err)
	require.Equal(t, job.Drop, m.Outcome, m.Note)
	counts, err := b.store.PartCounts(ctx, j.ID)
	require.NoError(t, err)
	require.Equal(t, 50.0, counts[job.StepTranscode].Percent())
}

func TestAnExpiredPartAloneIsSentAgain(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	j, _, ds := splitJob(t, b, 3)
	for _, d := range ds {
		_, err := b.store.ClaimPart(ctx, j.ID, d.Step, d.Part, partOpts)
		require.NoError(t, err)
	}
	// Part 2's worker died: its lease is old; the others keep theirs.
	_, err := b.db.Exec(ctx, `UPDATE job_parts SET updated_at = now() - interval '1 minute' WHERE job_id = $1 AND part = 2`, j.ID)
	require.NoError(t, err)
	_, err = b.db.Exec(ctx, `UPDATE job_steps SET updated_at = now() - interval '1 minute' WHERE job_id = $1`, j.ID)
	require.NoError(t, err)

	again, err := b.store.ExpiredParts(ctx, partOpts.Lease, 10)
	require.NoError(t, err)
	var mine []job.PartDispatch
	for _, d := range again {
		if d.JobID == j.ID {
			mine = append(mine, d)
		}
	}
	require.Len(t, mine, 1)
	require.Equal(t, 2, mine[0].Part)
	require.Equal(t, 2, mine[0].Attempt, "a new dispatch of the part")

	// The step held by its parts is not re-sent as a whole.
	steps, err := b.store.Expired(ctx, partOpts.Lease, 100)
	require.NoError(t, err)
	for _, d := range steps {
		require.NotEqual(t, j.ID, d.JobID)
	}
	c, err := b.store.ClaimPart(ctx, j.ID, job.StepTranscode, 2, partOpts)
	require.NoError(t, err)
	require.Equal(t, job.Run, c.Outcome)
	require.Equal(t, 2, c.Attempt)
}

func TestCancelStopsEveryPartAndNoMergeRuns(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	j, _, ds := splitJob(t, b, 3)
	c1, err := b.store.ClaimPart(ctx, j.ID, ds[0].Step, 1, partOpts)
	require.NoError(t, err)
	_, err = b.store.Cancel(ctx, b.user, j.ID)
	require.NoError(t, err)

	c2, err := b.store.ClaimPart(ctx, j.ID, ds[1].Step, 2, partOpts)
	require.NoError(t, err)
	require.Equal(t, job.Drop, c2.Outcome)
	f, err := b.store.FinishPart(ctx, j.ID, ds[0].Step, 1, c1.Attempt, job.PartCost{})
	require.NoError(t, err)
	require.False(t, f.Recorded)
	require.Nil(t, f.Merge)
	m, err := b.store.ClaimMerge(ctx, j.ID, job.StepTranscode, partOpts)
	require.NoError(t, err)
	require.Equal(t, job.Drop, m.Outcome)

	var open int
	require.NoError(t, b.db.QueryRow(ctx, `SELECT count(*) FROM job_parts WHERE job_id = $1 AND status <> 'canceled'`, j.ID).Scan(&open))
	require.Zero(t, open)
}

func TestAPartOutOfAttemptsFailsTheJob(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	j, _, _ := splitJob(t, b, 2)
	opts := job.ClaimOptions{Lease: time.Nanosecond, MaxAttempts: 2}
	for range 2 {
		c, err := b.store.ClaimPart(ctx, j.ID, job.StepTranscode, 1, opts)
		require.NoError(t, err)
		require.Equal(t, job.Run, c.Outcome)
	}
	c, err := b.store.ClaimPart(ctx, j.ID, job.StepTranscode, 1, opts)
	require.NoError(t, err)
	require.Equal(t, job.Drop, c.Outcome)
	require.NotEmpty(t, c.Failed)
	got, err := b.store.Get(ctx, b.user, j.ID)
	require.NoError(t, err)
	require.Equal(t, job.Failed, got.Status)
	require.NotNil(t, got.Error)
	require.Contains(t, *got.Error, "part 1")
}

// TestGetShowsParts reads a job as GET /jobs/{id} does while its transcode
// runs in two parts of unequal length: every step has parts, a step not
// split counts as one, and the split step's progress weighs its done parts
// by their media length.
func TestGetShowsParts(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	j, _, err := b.store.Create(ctx, job.NewJob{UserID: b.user, AssetID: b.asset, Recipe: job.Captions, RequireReady: true})
	require.NoError(t, err)
	c, err := b.store.Claim(ctx, j.ID, job.StepTranscode, partOpts)
	require.NoError(t, err)
	ds, err := b.store.Split(ctx, j.ID, job.StepTranscode, c.Attempt, []job.Range{
		{Start: 0, End: time.Minute}, {Start: time.Minute, End: 4 * time.Minute}})
	require.NoError(t, err)
	require.Len(t, ds, 2)

	type view struct {
		parts    [2]job.StepParts // transcode, transcribe
		progress [2]float64
		job      float64
	}
	read := func() view {
		t.Helper()
		got, err := b.store.Get(ctx, b.user, j.ID)
		require.NoError(t, err)
		require.Len(t, got.Steps, 2)
		return view{parts: [2]job.StepParts{got.Steps[0].Parts, got.Steps[1].Parts},
			progress: [2]float64{got.Steps[0].Progress, got.Steps[1].Progress}, job: got.Progress}
	}
	require.Equal(t, view{parts: [2]job.StepParts{{Total: 2}, {Total: 1}}}, read())

	finish := func(part int) {
		t.Helper()
		pc, err := b.store.ClaimPart(ctx, j.ID, job.StepTranscode, part, partOpts)
		require.NoError(t, err)
		require.Equal(t, job.Run, pc.Outcome)
		_, err = b.store.FinishPart(ctx, j.ID, job.StepTranscode, part, pc.Attempt, job.PartCost{BilledMS: 1000, MemoryMB: 2048})
		require.NoError(t, err)
	}
	finish(2) // 3 of the 4 minutes
	require.Equal(t, view{parts: [2]job.StepParts{{Total: 2, Done: 1}, {Total: 1}}, progress: [2]float64{75, 0}, job: 37.5}, read())

	finish(1) // every part done; the merge is still to run
	require.Equal(t, view{parts: [2]job.StepParts{{Total: 2, Done: 2}, {Total: 1}}, progress: [2]float64{99, 0}, job: 49.5}, read())

	m, err := b.store.ClaimMerge(ctx, j.ID, job.StepTranscode, partOpts)
	require.NoError(t, err)
	require.Equal(t, job.Run, m.Outcome)
	_, err = b.store.Succeed(ctx, j.ID, job.StepTranscode, m.Attempt, nil, nil)
	require.NoError(t, err)
	require.Equal(t, view{parts: [2]job.StepParts{{Total: 2, Done: 2}, {Total: 1}}, progress: [2]float64{100, 0}, job: 50}, read())

	// A step not split is one part, done when it succeeds.
	tc, err := b.store.Claim(ctx, j.ID, job.StepTranscribe, partOpts)
	require.NoError(t, err)
	_, err = b.store.Succeed(ctx, j.ID, job.StepTranscribe, tc.Attempt, nil, nil)
	require.NoError(t, err)
	require.Equal(t, view{parts: [2]job.StepParts{{Total: 2, Done: 2}, {Total: 1, Done: 1}}, progress: [2]float64{100, 100}, job: 100}, read())
}

func TestAMergeHandedBackIsClaimedAgain(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	j, _, ds := splitJob(t, b, 2)
	for _, d := range ds {
		c, err := b.store.ClaimPart(ctx, j.ID, d.Step, d.Part, partOpts)
		require.NoError(t, err)
		_, err = b.store.FinishPart(ctx, j.ID, d.Step, d.Part, c.Attempt, job.PartCost{BilledMS: 10, MemoryMB: 128})
		require.NoError(t, err)
	}
	m, err := b.store.ClaimMerge(ctx, j.ID, job.StepTranscode, partOpts)
	require.NoError(t, err)
	require.Equal(t, job.Run, m.Outcome, m.Note)
	require.NoError(t, b.store.Retry(ctx, j.ID, job.StepTranscode, m.Attempt, "transcode failed: a transient error"))

	again, err := b.store.ClaimMerge(ctx, j.ID, job.StepTranscode, partOpts)
	require.NoError(t, err)
	require.Equal(t, job.Run, again.Outcome, "the merge's message came back to a queued step: %s", again.Note)
	require.Equal(t, m.Attempt+1, again.Attempt)
	got, err := b.store.Get(ctx, j.UserID, j.ID)
	require.NoError(t, err)
	require.Equal(t, job.Running, got.Steps[0].Status)
	require.Nil(t, got.Steps[0].Error)
}

func TestUnsentPartsAreFoundAfterTheirGrace(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	j, _, ds := splitJob(t, b, 3)
	none, err := b.store.UnsentParts(ctx, time.Minute, 10)
	require.NoError(t, err)
	require.Empty(t, none, "just split: the splitting worker is sending them")
	require.NoError(t, b.store.SendPart(ctx, enqueueNothing{}, ds[0]))
	list, err := b.store.UnsentParts(ctx, 0, 10)
	require.NoError(t, err)
	require.Equal(t, []job.PartDispatch{
		{JobID: j.ID, Step: job.StepTranscode, Part: 2, Attempt: 1, TraceID: j.TraceID},
		{JobID: j.ID, Step: job.StepTranscode, Part: 3, Attempt: 1, TraceID: j.TraceID},
	}, list)
}

type enqueueNothing struct{}

func (enqueueNothing) Send(context.Context, queue.Message) error { return nil }
