package cost_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/redub/redub/shared/asset"
	"github.com/redub/redub/shared/cost"
	"github.com/redub/redub/shared/job"
	"github.com/redub/redub/shared/ledger"
	"github.com/redub/redub/shared/metric"
	"github.com/redub/redub/shared/pipeline"
)

// lines parses every EMF line in buf, failing on one that is not valid.
func lines(t *testing.T, buf *bytes.Buffer) []metric.Line {
	t.Helper()
	var out []metric.Line
	sc := bufio.NewScanner(buf)
	for sc.Scan() {
		l, err := metric.Parse(sc.Bytes())
		require.NoError(t, err, sc.Text())
		out = append(out, l)
	}
	return out
}

// TestEveryJobEndIsMeteredOnce: however a job ends (its last step, the
// API's cancel while it is queued, the sweeper's dead-letter verdict, its
// asset deleted while it runs), the outbox gives one job-end line, stamped
// with the end, and a second run writes none. The step that ends a job
// writes no job-end metric itself.
func TestEveryJobEndIsMeteredOnce(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	jobs, assets := job.NewStore(b.db), asset.NewStore(b.db)
	ok := func(context.Context, *pipeline.Context) (pipeline.Result, error) { return pipeline.Result{}, nil }
	b.handle(t, step{name: job.StepTranscode, work: ok})
	b.handle(t, step{name: job.StepTranscribe, work: ok}) // the captions job succeeds
	for _, l := range lines(t, b.metrics) {
		require.NotContains(t, l.Metrics, "JobsSucceeded", "the step writes no job-end metric")
	}

	newJob := func(recipe job.Recipe, assetID uuid.UUID) job.Job {
		j, _, err := jobs.Create(ctx, job.NewJob{UserID: b.job.UserID, AssetID: assetID, Recipe: recipe})
		require.NoError(t, err)
		return j
	}
	// Canceled while queued: no step ever ran.
	canceled := newJob(job.Transcode, b.job.AssetID)
	_, err := jobs.Cancel(ctx, b.job.UserID, canceled.ID)
	require.NoError(t, err)
	// Failed by the sweeper: its step's current message reached the dead-letter queue.
	lettered := newJob(job.Voiceover, b.job.AssetID)
	_, err = b.db.Exec(ctx, `UPDATE job_steps SET enqueued_at = now() WHERE job_id = $1`, lettered.ID)
	require.NoError(t, err)
	v, err := jobs.DeadLetter(ctx, job.Dispatch{JobID: lettered.ID, Step: job.StepTranscode, Attempt: 1}, 30*time.Second, "dead-lettered")
	require.NoError(t, err)
	require.Equal(t, job.DeadFailed, v)
	// Running when its asset is deleted: the job goes with it.
	other := uuid.New()
	_, err = b.db.Exec(ctx, `INSERT INTO assets (id, user_id, status, filename, content_type, size_bytes, object_key)
		VALUES ($1, $2, 'ready', 'b.mp4', 'video/mp4', 10, 'uploads/x/b.mp4')`, other, b.job.UserID)
	require.NoError(t, err)
	deleted := newJob(job.Voiceover, other)
	_, err = jobs.Claim(ctx, deleted.ID, job.StepTranscode, job.ClaimOptions{Lease: 30 * time.Second, MaxAttempts: 3})
	require.NoError(t, err)
	_, _, err = assets.Delete(ctx, b.job.UserID, other, false)
	require.NoError(t, err)
	_, err = jobs.Get(ctx, b.job.UserID, deleted.ID)
	require.Error(t, err, "the job went with its asset")

	var buf bytes.Buffer
	ends := &cost.Ends{Events: jobs, Usages: b.store, Prices: fixed(), Metrics: metric.New(&buf, "development"), Settle: time.Hour}
	n, err := ends.Write(ctx)
	require.NoError(t, err)
	require.Zero(t, n, "ends younger than Settle wait")
	require.Zero(t, buf.Len())

	ends.Settle = 0
	n, err = ends.Write(ctx)
	require.NoError(t, err)
	require.Equal(t, 4, n)
	got := lines(t, &buf)
	require.Len(t, got, 4, "one line per end")
	sums := map[string]float64{}
	costs := 0
	for _, l := range got {
		for _, m := range []string{"JobsSucceeded", "JobsFailed", "JobsCanceled"} {
			require.Contains(t, l.Metrics, m, "each line has all three counters, for a rate")
			sums[m+"/"+l.Dimensions["recipe"]] += l.Metrics[m]
		}
		require.Equal(t, "Seconds", l.Units["JobDuration"])
		require.GreaterOrEqual(t, l.Metrics["JobDuration"], 0.0)
		if _, ok := l.Metrics["JobCostUSD"]; ok {
			costs++
		}
	}
	require.Equal(t, map[string]float64{
		"JobsSucceeded/captions": 1, "JobsFailed/captions": 0, "JobsCanceled/captions": 0,
		"JobsSucceeded/transcode": 0, "JobsFailed/transcode": 0, "JobsCanceled/transcode": 1,
		"JobsSucceeded/voiceover": 0, "JobsFailed/voiceover": 1, "JobsCanceled/voiceover": 1,
	}, sums)
	require.Equal(t, 3, costs, "a deleted job's usage went with it: no JobCostUSD")

	// The succeeded job's line is stamped with its end and carries its cost.
	done, err := jobs.Get(ctx, b.job.UserID, b.job.ID)
	require.NoError(t, err)
	us, err := b.store.Usages(ctx, b.job.ID)
	require.NoError(t, err)
	for _, l := range got {
		if l.Metrics["JobsSucceeded"] == 1 {
			require.Equal(t, done.FinishedAt.UnixMilli(), l.Time.UnixMilli())
			require.InDelta(t, done.FinishedAt.Sub(done.CreatedAt).Seconds(), l.Metrics["JobDuration"], 1e-3)
			require.InDelta(t, cost.Estimate(fixed(), us).TotalUSD, l.Metrics["JobCostUSD"], 1e-9)
		}
	}

	n, err = ends.Write(ctx)
	require.NoError(t, err)
	require.Zero(t, n, "an end is metered once")
	require.Zero(t, buf.Len())
}

// TestProviderMetricsCountCallsAndErrors: each paid call an invocation made
// is one line under its provider, with its latency, and a refused call
// counts as an error.
func TestProviderMetricsCountCallsAndErrors(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.handle(t, step{name: job.StepTranscode, work: func(ctx context.Context, sc *pipeline.Context) (pipeline.Result, error) {
		for i, fail := range []bool{false, true} {
			call := ledger.Call{Provider: "elevenlabs", Operation: "tts", UserID: sc.Job.UserID, JobID: sc.Job.ID, Step: job.StepTranscode,
				Request: map[string]any{"n": i}}
			_, _ = b.ledger.Do(ctx, call, func(context.Context) (ledger.Outcome, error) {
				if fail {
					return ledger.Outcome{}, errors.New("quota exceeded")
				}
				return ledger.Outcome{Result: json.RawMessage(`{}`), Usage: json.RawMessage(`{"characters":12}`)}, nil
			})
		}
		return pipeline.Result{}, nil
	}})
	sums := map[string]float64{}
	n := 0
	for _, l := range lines(t, b.metrics) {
		if _, ok := l.Metrics["ProviderCalls"]; !ok {
			continue
		}
		n++
		require.Equal(t, "elevenlabs", l.Dimensions["provider"])
		require.Equal(t, "Milliseconds", l.Units["ProviderLatency"])
		require.GreaterOrEqual(t, l.Metrics["ProviderLatency"], 0.0)
		sums["calls"] += l.Metrics["ProviderCalls"]
		sums["errors"] += l.Metrics["ProviderErrors"]
	}
	require.Equal(t, 2, n, "one line per call")
	require.Equal(t, map[string]float64{"calls": 2, "errors": 1}, sums)
}
