package e2e_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

// One user cannot run up the bill (issue 13): caps on active jobs per user
// and per asset (409), target languages from the supported list (400, and
// one spelling per language), and a daily upload quota that deleting an
// upload does not refill (429).
func TestFairUseLimits(t *testing.T) {
	t.Parallel()
	e := start(t, map[string]string{"MAX_ACTIVE_JOBS_PER_USER": "3", "MAX_ACTIVE_JOBS_PER_ASSET": "2", "UPLOAD_DAILY_QUOTA_BYTES": "3500"})
	ctx := context.Background()
	createJob := func(token, asset string, params map[string]any, key string) response {
		body := map[string]any{"asset_id": asset, "recipe": "captions"}
		if params != nil {
			body["params"] = params
		}
		return e.do(t, call{method: "POST", path: "/jobs", token: token, body: body, headers: map[string]string{"Idempotency-Key": key}})
	}
	// Jobs that stay active whatever the pipeline does meanwhile: rows seeded
	// as running, with no steps for a worker to take.
	seedActive := func(user, asset string, n int) {
		for range n {
			_, err := e.db.Exec(ctx, `INSERT INTO jobs (id, user_id, asset_id, recipe, status) VALUES ($1, $2, $3, 'captions', 'running')`,
				uuid.New(), user, asset)
			require.NoError(t, err)
		}
	}
	problem := func(r response, status int, mention string) {
		t.Helper()
		require.Equal(t, status, r.Status, string(r.Body))
		require.Contains(t, r.Header.Get("Content-Type"), "application/problem+json")
		require.Contains(t, string(r.Body), mention)
	}

	t.Run("per asset", func(t *testing.T) {
		token, user := e.login(t, "one-asset@example.com")
		asset, other := e.upload(t, token, "a.mp4"), e.upload(t, token, "b.mp4")
		e.markReady(t, asset)
		e.markReady(t, other)
		seedActive(user, asset, 2)
		problem(createJob(token, asset, nil, uuid.NewString()), 409, "jobs queued or running, the most one asset may have at once")
		key := uuid.NewString()
		first := createJob(token, other, nil, key)
		require.Equal(t, 201, first.Status, "another asset of the same user is below its cap: %s", first.Body)
		seedActive(user, other, 1)
		again := createJob(token, other, nil, key)
		require.Equal(t, 200, again.Status, "a repeat of a key that made a job is that job, not a new one over the cap: %s", again.Body)
	})

	t.Run("per user", func(t *testing.T) {
		token, user := e.login(t, "many-jobs@example.com")
		a, b, c := e.upload(t, token, "a.mp4"), e.upload(t, token, "b.mp4"), e.upload(t, token, "c.mp4")
		for _, id := range []string{a, b, c} {
			e.markReady(t, id)
		}
		seedActive(user, a, 2)
		seedActive(user, b, 1)
		problem(createJob(token, c, nil, uuid.NewString()), 409, "you already have 3 jobs queued or running")
		r := e.do(t, call{method: "POST", path: "/uploads", token: token, body: map[string]any{"filename": "d.mp4", "content_type": "video/mp4",
			"size_bytes": 10, "recipe": "transcode"}})
		problem(r, 409, "upload without a recipe and start the job later")
		r = e.do(t, call{method: "POST", path: "/uploads", token: token, body: map[string]any{"filename": "d.mp4", "content_type": "video/mp4", "size_bytes": 10}})
		require.Equal(t, 201, r.Status, "an upload that starts no job is not capped: %s", r.Body)
		var n int
		require.NoError(t, e.db.QueryRow(ctx, `SELECT count(*) FROM jobs WHERE user_id = $1`, user).Scan(&n))
		require.Equal(t, 3, n, "the refused request made no job")
	})

	t.Run("languages", func(t *testing.T) {
		token, _ := e.login(t, "polyglot@example.com")
		asset := e.upload(t, token, "a.mp4")
		e.markReady(t, asset)
		problem(createJob(token, asset, map[string]any{"target_language": "es-x0001"}, uuid.NewString()), 400, `target_language \"es-x0001\" is not a supported language`)
		r := e.do(t, call{method: "POST", path: "/uploads", token: token, body: map[string]any{"filename": "a.mp4", "content_type": "video/mp4",
			"size_bytes": 10, "recipe": "captions", "params": map[string]any{"target_language": "es-x0001"}}})
		problem(r, 400, "is not a supported language")
		r = createJob(token, asset, map[string]any{"target_language": "ES"}, uuid.NewString())
		require.Equal(t, 201, r.Status, string(r.Body))
		var j struct {
			Params struct {
				TargetLanguage string `json:"target_language"`
			}
		}
		r.JSON(t, &j)
		require.Equal(t, "es", j.Params.TargetLanguage, "one spelling per language, so the ledger sees one request")
	})

	t.Run("daily quota", func(t *testing.T) {
		token, _ := e.login(t, "uploader@example.com")
		var ids []string
		for i := range 3 {
			ids = append(ids, e.upload(t, token, fmt.Sprintf("%d.mp4", i))) // 1024 bytes each
		}
		for _, id := range ids[:2] {
			require.Equal(t, 204, e.do(t, call{method: "DELETE", path: "/assets/" + id, token: token}).Status)
		}
		r := e.do(t, call{method: "POST", path: "/uploads", token: token,
			body: map[string]any{"filename": "again.mp4", "content_type": "video/mp4", "size_bytes": 1024}})
		require.Equal(t, 429, r.Status, "3 KiB were accepted today, though two were deleted; 4 KiB is over 3500 bytes: %s", r.Body)
		require.Contains(t, string(r.Body), "3072 of 3500 bytes used today")
		require.NotEmpty(t, r.Header.Get("Retry-After"))
	})
}

// drill is one run of the fairness drill: user A queues backlog transcode
// jobs, then user B uploads one file with the transcode recipe.
type drill struct {
	bWait   time.Duration // B's job created to B's first step running
	bStart  time.Time     // when B's first step started
	aLast   time.Time     // when A's last first step started
	aDrain  time.Duration // A's first job created to A's last first step finished
	aBefore int           // A's jobs whose first step started before B's
	aJobs   int           // A's jobs: the backlog and the one A's upload started
}

func (e *env) fairnessDrill(t testing.TB, run string, backlog int) drill {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	file := sample(t, dir, 2)
	tokenA, userA := e.login(t, "backlog-"+run+"@example.com")
	tokenB, userB := e.login(t, "newcomer-"+run+"@example.com")
	asset := e.uploadFile(t, tokenA, file, "video/mp4", nil)
	require.Eventually(t, func() bool { s, _ := e.assetStatus(t, tokenA, asset); return s == "ready" }, 2*time.Minute, 200*time.Millisecond)

	var wg sync.WaitGroup
	for range backlog {
		wg.Go(func() {
			r := e.do(t, call{method: "POST", path: "/jobs", token: tokenA, headers: map[string]string{"Idempotency-Key": uuid.NewString()},
				body: map[string]any{"asset_id": asset, "recipe": "transcode"}})
			require.Equal(t, 201, r.Status, string(r.Body))
		})
	}
	wg.Wait()
	e.uploadFile(t, tokenB, file, "video/mp4", map[string]any{"recipe": "transcode"})

	firstStep := func(user string) (created, started, finished []time.Time) {
		rows, err := e.db.Query(ctx, `SELECT j.created_at, st.started_at, st.finished_at FROM jobs j JOIN job_steps st ON st.job_id = j.id
			WHERE j.user_id = $1 AND st.position = 1 ORDER BY j.created_at`, user)
		require.NoError(t, err)
		defer rows.Close()
		for rows.Next() {
			var c time.Time
			var s, f *time.Time
			require.NoError(t, rows.Scan(&c, &s, &f))
			created = append(created, c)
			if s != nil {
				started = append(started, *s)
			}
			if f != nil {
				finished = append(finished, *f)
			}
		}
		require.NoError(t, rows.Err())
		return created, started, finished
	}
	var d drill
	require.Eventually(t, func() bool {
		created, started, _ := firstStep(userB)
		if len(started) == 0 {
			return false
		}
		d.bStart, d.bWait = started[0], started[0].Sub(created[0])
		return true
	}, 10*time.Minute, 200*time.Millisecond, "B's first step never started")
	require.Eventually(t, func() bool {
		var open int
		require.NoError(t, e.db.QueryRow(ctx, `SELECT count(*) FROM jobs WHERE user_id IN ($1, $2) AND status IN ('queued', 'running')`,
			userA, userB).Scan(&open))
		return open == 0
	}, 15*time.Minute, time.Second, "A's backlog or B's job never ended")
	created, started, finished := firstStep(userA)
	require.Len(t, started, len(created)) // the backlog, and the job A's upload started
	require.Len(t, finished, len(created))
	d.aJobs = len(created)
	var lastFinish time.Time
	for i, s := range started {
		if s.After(d.aLast) {
			d.aLast = s
		}
		if s.Before(d.bStart) {
			d.aBefore++
		}
		if finished[i].After(lastFinish) {
			lastFinish = finished[i]
		}
	}
	d.aDrain = lastFinish.Sub(created[0])
	var failed []string
	rows, err := e.db.Query(ctx, `SELECT status || ': ' || coalesce(error, '') FROM jobs WHERE user_id IN ($1, $2) AND status <> 'succeeded'`, userA, userB)
	require.NoError(t, err)
	for rows.Next() {
		var f string
		require.NoError(t, rows.Scan(&f))
		failed = append(failed, f)
	}
	require.NoError(t, rows.Err())
	require.Empty(t, failed, "every job of the drill succeeds (a parked step is never dead-lettered)")
	return d
}

// TestOneUsersBacklogDoesNotHoldAnothersFirstStep is the fairness drill with
// the template's settings (a share of 2 of the transcode queue's 5 workers):
// B's first step starts while A's backlog is still waiting. Without the share,
// B's message sits behind all of A's. The figures are BenchmarkFairShare's.
func TestOneUsersBacklogDoesNotHoldAnothersFirstStep(t *testing.T) {
	t.Parallel()
	e := start(t, map[string]string{"MAX_ACTIVE_JOBS_PER_USER": "100", "MAX_ACTIVE_JOBS_PER_ASSET": "100"})
	const backlog = 12
	d := e.fairnessDrill(t, "test", backlog)
	t.Logf("B waited %s for its first step; %d of A's %d started before it; A drained in %s", d.bWait, d.aBefore, d.aJobs, d.aDrain)
	require.True(t, d.bStart.Before(d.aLast), "B's first step started before A's backlog drained")
	require.Less(t, d.aBefore, backlog/2, "B did not wait behind most of A's backlog")
}

// BenchmarkFairShare runs the fairness drill of issue 13 through the local
// stack with the template's queue settings: user A queues 30 transcode jobs,
// then user B uploads one. It reports B's wait from its job's creation to its
// first step running (b-wait-s), how many of A's jobs started first
// (a-ahead), and A's time to drain (a-drain-s), with the template's share
// (fair: FAIR_SHARE_STEPS_PER_USER=2) and without one (unfair: a share above
// the queue's MaximumConcurrency). Compare the two as ratios of one run:
//
//	go run ./cmd/redub db run -- go test -run '^$' -bench FairShare -benchtime 1x -timeout 60m ./e2e
func BenchmarkFairShare(b *testing.B) {
	for _, mode := range []struct{ name, share string }{{"fair", "2"}, {"unfair", "1000"}} {
		b.Run(mode.name, func(b *testing.B) {
			e := start(b, map[string]string{"MAX_ACTIVE_JOBS_PER_USER": "100", "MAX_ACTIVE_JOBS_PER_ASSET": "100",
				"FAIR_SHARE_STEPS_PER_USER": mode.share})
			var wait, drain, ahead float64
			n := 0
			for b.Loop() {
				n++
				d := e.fairnessDrill(b, fmt.Sprint(mode.name, n), 30)
				wait += d.bWait.Seconds()
				drain += d.aDrain.Seconds()
				ahead += float64(d.aBefore)
			}
			b.ReportMetric(wait/float64(n), "b-wait-s")
			b.ReportMetric(ahead/float64(n), "a-ahead")
			b.ReportMetric(drain/float64(n), "a-drain-s")
			b.ReportMetric(0, "ns/op")
		})
	}
}
