package pipeline_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/redub/redub/shared/apperr"
	"github.com/redub/redub/shared/asset"
	"github.com/redub/redub/shared/job"
	"github.com/redub/redub/shared/pipeline"
	"github.com/redub/redub/shared/postgres"
	"github.com/redub/redub/shared/postgres/pgtest"
	"github.com/redub/redub/shared/queue"
)

type sentMessages struct {
	mu   sync.Mutex
	msgs []queue.Message
}

func (s *sentMessages) Send(_ context.Context, m queue.Message) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.msgs = append(s.msgs, m)
	return nil
}

func (s *sentMessages) steps() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, m := range s.msgs {
		out = append(out, m.Step)
	}
	return out
}

type fakeStep struct {
	name  string
	calls int
	work  func(ctx context.Context, sc *pipeline.Context) (pipeline.Result, error)
}

func (f *fakeStep) Name() string { return f.name }
func (f *fakeStep) Work(ctx context.Context, sc *pipeline.Context) (pipeline.Result, error) {
	f.calls++
	if f.work != nil {
		return f.work(ctx, sc)
	}
	return pipeline.Result{Outputs: []pipeline.Output{{Kind: f.name + "_out", Key: sc.Key(f.name, "out.bin"), Filename: "out.bin", ContentType: "application/octet-stream", SizeBytes: 3}},
		Usage: map[string]any{"seconds": 1.5}}, nil
}

type bundle struct {
	db     *postgres.DB
	runner *pipeline.Runner
	sent   *sentMessages
	job    job.Job
}

func setup(t *testing.T, recipe job.Recipe, params job.Params) bundle {
	t.Helper()
	db := pgtest.New(t)
	ctx := context.Background()
	user, assetID := uuid.New(), uuid.New()
	_, err := db.Exec(ctx, `INSERT INTO users (id, email) VALUES ($1, $2)`, user, user.String()+"@example.com")
	require.NoError(t, err)
	_, err = db.Exec(ctx, `INSERT INTO assets (id, user_id, status, filename, content_type, size_bytes, object_key)
		VALUES ($1, $2, 'ready', 'a.mp4', 'video/mp4', 10, $3)`, assetID, user, "uploads/"+user.String()+"/"+assetID.String()+"/source.mp4")
	require.NoError(t, err)
	j, _, err := job.NewStore(db).Create(ctx, job.NewJob{UserID: user, AssetID: assetID, Recipe: recipe, Params: params})
	require.NoError(t, err)
	sent := &sentMessages{}
	return bundle{db: db, sent: sent, job: j, runner: &pipeline.Runner{Jobs: job.NewStore(db), Assets: asset.NewStore(db), Queue: sent,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))}}
}

func (b bundle) msg(step string) string {
	body, _ := json.Marshal(queue.Message{V: 1, JobID: b.job.ID, Step: step, Attempt: 1})
	return string(body)
}

func (b bundle) get(t *testing.T) job.Job {
	t.Helper()
	j, err := job.NewStore(b.db).Get(context.Background(), b.job.UserID, b.job.ID)
	require.NoError(t, err)
	return j
}

func TestStepsChainAndTheJobSucceeds(t *testing.T) {
	t.Parallel()
	b := setup(t, job.Captions, job.Params{})
	ctx := context.Background()
	transcode, transcribe := &fakeStep{name: "transcode"}, &fakeStep{name: "transcribe"}

	require.NoError(t, b.runner.Handle(ctx, transcode, b.msg("transcode")))
	require.Equal(t, []string{"transcribe"}, b.sent.steps(), "the next step is sent after the commit")
	j := b.get(t)
	require.Equal(t, job.Running, j.Status)
	require.Equal(t, job.Succeeded, j.Steps[0].Status)
	require.Equal(t, job.Queued, j.Steps[1].Status)

	// A repeated message does no work twice.
	require.NoError(t, b.runner.Handle(ctx, transcode, b.msg("transcode")))
	require.Equal(t, 1, transcode.calls)

	require.NoError(t, b.runner.Handle(ctx, transcribe, b.msg("transcribe")))
	j = b.get(t)
	require.Equal(t, job.Succeeded, j.Status)
	require.NotNil(t, j.FinishedAt)
	require.Len(t, j.Outputs, 2)
	require.Equal(t, float64(100), j.Progress)
	var usage map[string]any
	require.NoError(t, b.db.QueryRow(ctx, `SELECT usage FROM job_steps WHERE job_id = $1 AND step = 'transcode'`, j.ID).Scan(&usage))
	require.Equal(t, 1.5, usage["seconds"])
	require.Contains(t, usage, "duration_ms")
}

func TestAMessageForALaterStepWaits(t *testing.T) {
	t.Parallel()
	b := setup(t, job.Captions, job.Params{})
	err := b.runner.Handle(context.Background(), &fakeStep{name: "transcribe"}, b.msg("transcribe"))
	require.ErrorIs(t, err, pipeline.ErrBusy)
	after, ok := queue.RetryAfter(err)
	require.True(t, ok, "it comes back after a delay, not after the visibility timeout")
	require.Equal(t, pipeline.DefaultLease, after)
}

func TestABusyStepComesBackWhenItsLeaseEnds(t *testing.T) {
	t.Parallel()
	b := setup(t, job.Transcode, job.Params{})
	ctx := context.Background()
	_, err := b.db.Exec(ctx, `UPDATE job_steps SET status = 'running', attempts = 1, updated_at = now() - interval '20 seconds'
		WHERE job_id = $1 AND step = 'transcode'`, b.job.ID)
	require.NoError(t, err)
	step := &fakeStep{name: "transcode"}
	err = b.runner.Handle(ctx, step, b.msg("transcode"))
	require.ErrorIs(t, err, pipeline.ErrBusy)
	after, _ := queue.RetryAfter(err)
	require.InDelta(t, 10, after.Seconds(), 2, "the rest of the 30 s lease")
	require.Zero(t, step.calls)

	// Once the lease has run out, the message takes the step over.
	_, err = b.db.Exec(ctx, `UPDATE job_steps SET updated_at = now() - interval '31 seconds' WHERE job_id = $1`, b.job.ID)
	require.NoError(t, err)
	require.NoError(t, b.runner.Handle(ctx, step, b.msg("transcode")))
	require.Equal(t, 1, step.calls)
	j := b.get(t)
	require.Equal(t, job.Succeeded, j.Status)
	require.Equal(t, 2, j.Steps[0].Attempts)
}

func TestAnAttemptWhoseLeaseWasTakenOverRecordsNothing(t *testing.T) {
	t.Parallel()
	b := setup(t, job.Captions, job.Params{})
	ctx := context.Background()
	b.runner.Lease = 3 * time.Second
	step := &fakeStep{name: "transcode", work: func(ctx context.Context, sc *pipeline.Context) (pipeline.Result, error) {
		// Another worker takes the step over (as after this one stalled).
		_, err := b.db.Exec(context.Background(), `UPDATE job_steps SET attempts = attempts + 1 WHERE job_id = $1`, sc.Job.ID)
		require.NoError(t, err)
		<-ctx.Done() // the heartbeat finds the attempt superseded and stops the work
		return pipeline.Result{}, ctx.Err()
	}}
	require.NoError(t, b.runner.Handle(ctx, step, b.msg("transcode")))
	j := b.get(t)
	require.Equal(t, job.Running, j.Steps[0].Status, "left to the attempt that holds it")
	require.Nil(t, j.Steps[0].Error)
	require.Empty(t, b.sent.steps())
}

func TestAMessageOfANewerVersionGoesBack(t *testing.T) {
	t.Parallel()
	b := setup(t, job.Transcode, job.Params{})
	step := &fakeStep{name: "transcode"}
	body, _ := json.Marshal(queue.Message{V: queue.Version + 1, JobID: b.job.ID, Step: "transcode", Attempt: 1})
	err := b.runner.Handle(context.Background(), step, string(body))
	require.ErrorIs(t, err, queue.ErrNewer)
	_, ok := queue.RetryAfter(err)
	require.True(t, ok, "handed back for newer code, never deleted")
	require.Zero(t, step.calls)

	old, _ := json.Marshal(queue.Message{V: queue.Version - 1, JobID: b.job.ID, Step: "transcode", Attempt: 1})
	require.NoError(t, b.runner.Handle(context.Background(), step, string(old)))
	require.Equal(t, 1, step.calls, "the previous version is read")
}

func TestTheDeadlineStopsTheWorkBeforeTheInvocationEnds(t *testing.T) {
	t.Parallel()
	b := setup(t, job.Transcode, job.Params{})
	b.runner.Margin = 2 * time.Second
	var left time.Duration
	step := &fakeStep{name: "transcode", work: func(ctx context.Context, _ *pipeline.Context) (pipeline.Result, error) {
		d, ok := ctx.Deadline()
		require.True(t, ok)
		left = time.Until(d)
		return pipeline.Result{}, nil
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, b.runner.Handle(ctx, step, b.msg("transcode")))
	require.InDelta(t, 8, left.Seconds(), 0.5, "the invocation's deadline less the margin")
}

func TestTransientFailureAsksForItsRetryAfter(t *testing.T) {
	t.Parallel()
	b := setup(t, job.Transcode, job.Params{})
	limited := errors.New("429")
	b.runner.RetryDelay = func(err error) (time.Duration, bool) { return 3 * time.Second, errors.Is(err, limited) }
	step := &fakeStep{name: "transcode", work: func(context.Context, *pipeline.Context) (pipeline.Result, error) { return pipeline.Result{}, limited }}
	err := b.runner.Handle(context.Background(), step, b.msg("transcode"))
	after, ok := queue.RetryAfter(err)
	require.True(t, ok)
	require.Equal(t, 3*time.Second, after)
	j := b.get(t)
	require.Equal(t, job.Queued, j.Steps[0].Status)
	require.Equal(t, "transcode failed: an internal error stopped it (support id "+b.job.ID.String()+")", *j.Steps[0].Error)
}

func TestDeletingTheAssetWhileAStepRunsStopsItAndLeavesNoFiles(t *testing.T) {
	t.Parallel()
	b := setup(t, job.Captions, job.Params{})
	files := &prefixes{}
	b.runner.Files = files
	step := &fakeStep{name: "transcode", work: func(ctx context.Context, sc *pipeline.Context) (pipeline.Result, error) {
		_, _, err := asset.NewStore(b.db).Delete(ctx, sc.Job.UserID, sc.AssetID, false)
		require.NoError(t, err)
		return pipeline.Result{Outputs: []pipeline.Output{{Kind: "video", Key: sc.Key("transcode", "video.mp4"), Filename: "a.mp4"}}}, nil
	}}
	require.NoError(t, b.runner.Handle(context.Background(), step, b.msg("transcode")))
	require.Equal(t, []string{"jobs/" + b.job.ID.String() + "/"}, files.removed, "files written after the delete are removed")
	require.Empty(t, b.sent.steps())
}

type prefixes struct{ removed []string }

func (p *prefixes) DeletePrefix(_ context.Context, prefix string) (int, error) {
	p.removed = append(p.removed, prefix)
	return 1, nil
}

func TestPermanentFailureFailsTheJobAtOnce(t *testing.T) {
	t.Parallel()
	b := setup(t, job.Voiceover, job.Params{})
	step := &fakeStep{name: "transcode", work: func(context.Context, *pipeline.Context) (pipeline.Result, error) {
		return pipeline.Result{}, apperr.New(apperr.Invalid, "the file has no audio track")
	}}
	require.NoError(t, b.runner.Handle(context.Background(), step, b.msg("transcode")), "a permanent failure is not retried")
	j := b.get(t)
	require.Equal(t, job.Failed, j.Status)
	require.Equal(t, "transcode failed: the file has no audio track (support id "+b.job.ID.String()+")", *j.Error)
	require.Equal(t, job.Failed, j.Steps[0].Status)
	for _, s := range j.Steps[1:] {
		require.Equal(t, job.Canceled, s.Status)
	}
	require.Empty(t, b.sent.steps())
}

func TestTransientFailuresRetryThenFail(t *testing.T) {
	t.Parallel()
	b := setup(t, job.Transcode, job.Params{})
	flaky := errors.New("connection reset by peer")
	step := &fakeStep{name: "transcode", work: func(context.Context, *pipeline.Context) (pipeline.Result, error) { return pipeline.Result{}, flaky }}
	for i := 1; i < pipeline.DefaultMaxAttempts; i++ {
		err := b.runner.Handle(context.Background(), step, b.msg("transcode"))
		require.ErrorIs(t, err, flaky, "attempt %d comes back", i)
		require.Equal(t, job.Running, b.get(t).Status)
	}
	require.NoError(t, b.runner.Handle(context.Background(), step, b.msg("transcode")))
	j := b.get(t)
	require.Equal(t, job.Failed, j.Status)
	require.Equal(t, "transcode failed: an internal error stopped it (support id "+b.job.ID.String()+")", *j.Error,
		"a person sees no internals; the logs have them")
	require.Equal(t, pipeline.DefaultMaxAttempts, j.Steps[0].Attempts)
}

func TestCancelBeforeAndDuring(t *testing.T) {
	t.Parallel()
	b := setup(t, job.Captions, job.Params{})
	ctx := context.Background()
	step := &fakeStep{name: "transcode", work: func(ctx context.Context, sc *pipeline.Context) (pipeline.Result, error) {
		_, err := job.NewStore(b.db).Cancel(ctx, sc.Job.UserID, sc.Job.ID)
		require.NoError(t, err)
		if sc.Canceled(ctx) {
			return pipeline.Result{}, pipeline.ErrCanceled
		}
		return pipeline.Result{}, nil
	}}
	require.NoError(t, b.runner.Handle(ctx, step, b.msg("transcode")))
	j := b.get(t)
	require.Equal(t, job.Canceled, j.Status)
	require.Equal(t, job.Canceled, j.Steps[0].Status)
	require.Empty(t, b.sent.steps(), "no later step runs")

	again := &fakeStep{name: "transcode"}
	require.NoError(t, b.runner.Handle(ctx, again, b.msg("transcode")))
	require.Zero(t, again.calls, "a canceled job's messages do nothing")
}

func TestMalformedMessagesAreDropped(t *testing.T) {
	t.Parallel()
	b := setup(t, job.Transcode, job.Params{})
	step := &fakeStep{name: "transcode"}
	require.NoError(t, b.runner.Handle(context.Background(), step, `{"v":1`))
	require.NoError(t, b.runner.Handle(context.Background(), step, b.msg("mix")))
	body, _ := json.Marshal(queue.Message{V: 1, JobID: uuid.New(), Step: "transcode"})
	require.NoError(t, b.runner.Handle(context.Background(), step, string(body)))
	require.Zero(t, step.calls)
}
