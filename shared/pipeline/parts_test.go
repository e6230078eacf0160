package pipeline_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/redub/redub/shared/apperr"
	"github.com/redub/redub/shared/job"
	"github.com/redub/redub/shared/pipeline"
	"github.com/redub/redub/shared/queue"
)

// partedStep is a step that runs in parts: n ranges of a minute each.
type partedStep struct {
	fakeStep
	n      int
	mu     sync.Mutex
	parts  map[int]int // calls per part
	merges int
	part   func(ctx context.Context, sc *pipeline.Context, part int) error
	merge  func(ctx context.Context, sc *pipeline.Context) error
}

func (p *partedStep) Parts(*pipeline.Context) []job.Range {
	var out []job.Range
	for i := range p.n {
		out = append(out, job.Range{Start: time.Duration(i) * time.Minute, End: time.Duration(i+1) * time.Minute})
	}
	return out
}

func (p *partedStep) WorkPart(ctx context.Context, sc *pipeline.Context, part int, rng job.Range) error {
	p.mu.Lock()
	if p.parts == nil {
		p.parts = map[int]int{}
	}
	p.parts[part]++
	p.mu.Unlock()
	if rng.Start != time.Duration(part-1)*time.Minute || sc.Parts != p.n {
		return fmt.Errorf("part %d of %d got %v", part, sc.Parts, rng)
	}
	if p.part != nil {
		return p.part(ctx, sc, part)
	}
	return nil
}

func (p *partedStep) Merge(ctx context.Context, sc *pipeline.Context) (pipeline.Result, error) {
	p.mu.Lock()
	p.merges++
	p.mu.Unlock()
	if sc.Parts != p.n {
		return pipeline.Result{}, fmt.Errorf("merge of %d parts, want %d", sc.Parts, p.n)
	}
	if p.merge != nil {
		if err := p.merge(ctx, sc); err != nil {
			return pipeline.Result{}, err
		}
	}
	return pipeline.Result{Outputs: []pipeline.Output{{Kind: "video", Key: sc.Key(p.name, "video.mp4"), Filename: "a.mp4", ContentType: "video/mp4", SizeBytes: 9}}}, nil
}

func (p *partedStep) calls(part int) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.parts[part]
}

// take removes and returns the messages sent so far.
func (s *sentMessages) take() []queue.Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.msgs
	s.msgs = nil
	return out
}

func body(m queue.Message) string {
	m.V = queue.Version
	b, _ := json.Marshal(m)
	return string(b)
}

type invocations struct {
	mu  sync.Mutex
	all []pipeline.Invocation
}

func (m *invocations) Invoked(_ context.Context, inv pipeline.Invocation) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.all = append(m.all, inv)
}

func newParted(n int) *partedStep {
	return &partedStep{fakeStep: fakeStep{name: job.StepTranscode}, n: n}
}

// runParts hands each part message sent so far to the runner and returns
// what they sent (the merge).
func runParts(t *testing.T, b bundle, step *partedStep, parts []queue.Message) []queue.Message {
	t.Helper()
	for _, m := range parts {
		require.Positive(t, m.Part)
		require.NoError(t, b.runner.Handle(context.Background(), step, body(m)))
	}
	return b.sent.take()
}

func TestAStepInPartsSplitsRunsEachPartAndMergesOnce(t *testing.T) {
	t.Parallel()
	b := setup(t, job.Captions, job.Params{})
	meter := &invocations{}
	b.runner.Meter, b.runner.MemoryMB = meter, 2048
	ctx := context.Background()
	step := newParted(3)

	require.NoError(t, b.runner.Handle(ctx, step, b.msg(job.StepTranscode)))
	require.Zero(t, step.fakeStep.calls, "a split step does not run whole")
	parts := b.sent.take()
	require.Len(t, parts, 3)
	for i, m := range parts {
		require.Equal(t, i+1, m.Part)
		require.Equal(t, job.StepTranscode, m.Step)
	}

	sent := runParts(t, b, step, parts)
	require.Len(t, sent, 1, "the last part alone sends the merge")
	require.True(t, sent[0].Merge)
	for i := 1; i <= 3; i++ {
		require.Equal(t, 1, step.calls(i))
	}
	// A repeated part message does no work twice.
	require.Empty(t, runParts(t, b, step, parts[:1]))
	require.Equal(t, 1, step.calls(1))

	require.NoError(t, b.runner.Handle(ctx, step, body(sent[0])))
	require.Equal(t, 1, step.merges)
	require.Equal(t, []string{job.StepTranscribe}, b.sent.steps(), "the merge succeeds the step as a whole step does")
	j := b.get(t)
	require.Equal(t, job.Succeeded, j.Steps[0].Status)
	require.Len(t, j.Outputs, 1)

	rows, err := b.db.Query(ctx, `SELECT billed_ms, memory_mb FROM job_parts WHERE job_id = $1 ORDER BY part`, b.job.ID)
	require.NoError(t, err)
	n := 0
	for rows.Next() {
		var billed int64
		var mem int
		require.NoError(t, rows.Scan(&billed, &mem))
		require.Positive(t, billed)
		require.Equal(t, 2048, mem)
		n++
	}
	require.NoError(t, rows.Err())
	require.Equal(t, 3, n)

	// A repeated merge message is dropped.
	require.NoError(t, b.runner.Handle(ctx, step, body(sent[0])))
	require.Equal(t, 1, step.merges)

	var split, partInv, merge int
	for _, inv := range meter.all {
		switch {
		case inv.Split > 0:
			split++
		case inv.Part > 0:
			partInv++
		case inv.Merge:
			merge++
		}
	}
	require.Equal(t, []int{1, 3, 1}, []int{split, partInv, merge}, "the meter hears of the split, every part and the merge")
}

func TestMediaOfOneRangeRunsWholeWithoutMerge(t *testing.T) {
	t.Parallel()
	b := setup(t, job.Captions, job.Params{})
	step := newParted(1)
	require.NoError(t, b.runner.Handle(context.Background(), step, b.msg(job.StepTranscode)))
	require.Equal(t, 1, step.fakeStep.calls)
	require.Zero(t, step.merges)
	require.Equal(t, []string{job.StepTranscribe}, b.sent.steps())
	var parts int
	require.NoError(t, b.db.QueryRow(context.Background(), `SELECT count(*) FROM job_parts WHERE job_id = $1`, b.job.ID).Scan(&parts))
	require.Zero(t, parts)
}

func TestATransientPartErrorRetriesThatPartAlone(t *testing.T) {
	t.Parallel()
	b := setup(t, job.Transcode, job.Params{})
	ctx := context.Background()
	flaky := errors.New("connection reset by peer")
	step := newParted(3)
	failed := false
	step.part = func(_ context.Context, _ *pipeline.Context, part int) error {
		if part == 2 && !failed {
			failed = true
			return flaky
		}
		return nil
	}
	require.NoError(t, b.runner.Handle(ctx, step, b.msg(job.StepTranscode)))
	parts := b.sent.take()
	require.ErrorIs(t, b.runner.Handle(ctx, step, body(parts[1])), flaky, "the message comes back")
	var status string
	require.NoError(t, b.db.QueryRow(ctx, `SELECT status FROM job_parts WHERE job_id = $1 AND part = 2`, b.job.ID).Scan(&status))
	require.Equal(t, "queued", status)

	sent := runParts(t, b, step, parts)
	require.Len(t, sent, 1)
	require.Equal(t, []int{1, 2, 1}, []int{step.calls(1), step.calls(2), step.calls(3)}, "only the failed part ran again")
	require.NoError(t, b.runner.Handle(ctx, step, body(sent[0])))
	require.Equal(t, job.Succeeded, b.get(t).Status)
}

func TestAPermanentPartErrorFailsTheJobWithoutMerge(t *testing.T) {
	t.Parallel()
	b := setup(t, job.Transcode, job.Params{})
	ctx := context.Background()
	step := newParted(3)
	step.part = func(_ context.Context, _ *pipeline.Context, part int) error {
		if part == 1 {
			return apperr.New(apperr.UnsupportedMedia, "the video stream cannot be decoded")
		}
		return nil
	}
	require.NoError(t, b.runner.Handle(ctx, step, b.msg(job.StepTranscode)))
	sent := runParts(t, b, step, b.sent.take())
	require.Empty(t, sent, "no merge")
	require.Zero(t, step.calls(2), "the other parts were canceled before they ran")
	j := b.get(t)
	require.Equal(t, job.Failed, j.Status)
	require.Equal(t, "transcode failed: the video stream cannot be decoded (support id "+b.job.ID.String()+")", *j.Error)
}

func TestCancelDuringThePartsStopsThemAndNoMergeRuns(t *testing.T) {
	t.Parallel()
	b := setup(t, job.Transcode, job.Params{})
	ctx := context.Background()
	step := newParted(3)
	step.part = func(ctx context.Context, sc *pipeline.Context, part int) error {
		if part == 2 {
			_, err := job.NewStore(b.db).Cancel(ctx, sc.Job.UserID, sc.Job.ID)
			require.NoError(t, err)
			if sc.Canceled(ctx) {
				return pipeline.ErrCanceled
			}
		}
		return nil
	}
	require.NoError(t, b.runner.Handle(ctx, step, b.msg(job.StepTranscode)))
	sent := runParts(t, b, step, b.sent.take())
	require.Empty(t, sent, "no merge is sent")
	require.Zero(t, step.calls(3), "a part after the cancel does not run")
	require.Zero(t, step.merges)
	j := b.get(t)
	require.Equal(t, job.Canceled, j.Status)
	require.Equal(t, job.Canceled, j.Steps[0].Status)
	var open int
	require.NoError(t, b.db.QueryRow(ctx, `SELECT count(*) FROM job_parts WHERE job_id = $1 AND status IN ('queued', 'running')`,
		b.job.ID).Scan(&open))
	require.Zero(t, open)
}

func TestAMergeThatFailedOnceRunsAgain(t *testing.T) {
	t.Parallel()
	b := setup(t, job.Transcode, job.Params{})
	ctx := context.Background()
	step := newParted(2)
	flaky := errors.New("slow down")
	step.merge = func(context.Context, *pipeline.Context) error {
		if step.merges == 1 {
			return flaky
		}
		return nil
	}
	require.NoError(t, b.runner.Handle(ctx, step, b.msg(job.StepTranscode)))
	merge := runParts(t, b, step, b.sent.take())
	require.Len(t, merge, 1)
	require.ErrorIs(t, b.runner.Handle(ctx, step, body(merge[0])), flaky)
	j := b.get(t)
	require.Equal(t, job.Queued, j.Steps[0].Status)
	require.NotNil(t, j.Steps[0].Error)
	require.NoError(t, b.runner.Handle(ctx, step, body(merge[0])), "the merge message comes back and merges")
	require.Equal(t, 2, step.merges)
	require.Equal(t, job.Succeeded, b.get(t).Status)
}

func TestALostMergeIsDoneWhenTheSweeperSendsTheStepAgain(t *testing.T) {
	t.Parallel()
	b := setup(t, job.Transcode, job.Params{})
	ctx := context.Background()
	step := newParted(2)
	require.NoError(t, b.runner.Handle(ctx, step, b.msg(job.StepTranscode)))
	require.Len(t, runParts(t, b, step, b.sent.take()), 1) // the merge message, lost

	_, err := b.db.Exec(ctx, `UPDATE job_steps SET updated_at = now() - interval '1 minute' WHERE job_id = $1`, b.job.ID)
	require.NoError(t, err)
	ds, err := job.NewStore(b.db).Expired(ctx, pipeline.DefaultLease, 10)
	require.NoError(t, err)
	require.Len(t, ds, 1)
	require.NoError(t, b.runner.Handle(ctx, step, body(ds[0].Message())))
	require.Equal(t, 1, step.merges, "the step's new attempt merges the parts it finds done")
	require.Zero(t, step.fakeStep.calls)
	require.Equal(t, []int{1, 1}, []int{step.calls(1), step.calls(2)})
	require.Equal(t, job.Succeeded, b.get(t).Status)
}

func TestAPartMessageForAStepWithoutPartsIsDropped(t *testing.T) {
	t.Parallel()
	b := setup(t, job.Transcode, job.Params{})
	step := &fakeStep{name: job.StepTranscode}
	require.NoError(t, b.runner.Handle(context.Background(), step, body(queue.Message{JobID: b.job.ID, Step: job.StepTranscode, Part: 1, Attempt: 1})))
	require.Zero(t, step.calls)
}
