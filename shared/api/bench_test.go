package api_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/redub/redub/shared/api"
	"github.com/redub/redub/shared/auth/authtest"
	"github.com/redub/redub/shared/cost"
	"github.com/redub/redub/shared/job"
	"github.com/redub/redub/shared/lambdarun"
	"github.com/redub/redub/shared/postgres/pgtest"
)

type benchEnv struct {
	deps  *api.Deps
	token string
	jobID uuid.UUID
	url   pgtest.URLs
}

func setupBench(b *testing.B) benchEnv {
	b.Helper()
	u := pgtest.NewDatabase(b)
	env := map[string]string{
		"STAGE": "development", "DATABASE_URL": u.Pooled, "STORAGE_BUCKET": "redub-bench",
		"AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s", "AWS_ENDPOINT_URL_S3": "http://127.0.0.1:9",
		"RATE_LIMIT_API_PER_MINUTE": "1000000",
	}
	var deps *api.Deps
	_, _, err := lambdarun.Build(context.Background(), "bench", func(k string) string { return env[k] }, io.Discard,
		func(_ context.Context, app *lambdarun.App) (any, error) {
			var err error
			deps, err = api.New(app)
			return nil, err
		})
	require.NoError(b, err)
	user, token := authtest.SignIn(b, deps.Sessions, deps.Users, "bench@example.com")
	asset := uuid.New()
	_, err = deps.DB.Exec(context.Background(), `INSERT INTO assets (id, user_id, status, filename, content_type, size_bytes, object_key)
		VALUES ($1, $2, 'ready', 'a.mp4', 'video/mp4', 10, $3)`, asset, user.ID, "uploads/"+user.ID.String()+"/"+asset.String()+"/source.mp4")
	require.NoError(b, err)
	j, _, err := deps.Jobs().Create(context.Background(), job.NewJob{UserID: user.ID, AssetID: asset, Recipe: job.Voiceover})
	require.NoError(b, err)
	return benchEnv{deps: deps, token: token, jobID: j.ID, url: u}
}

func measure(b *testing.B, fn func()) {
	b.Helper()
	b.ReportAllocs()
	lat := make([]time.Duration, 0, b.N)
	for b.Loop() {
		start := time.Now()
		fn()
		lat = append(lat, time.Since(start))
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}

// BenchmarkGetJob is GET /jobs/{id} in process: the session check, the rate
// limit and the job with its steps and outputs, against Postgres through
// PgBouncer. The "sql" variant sends the three statements the route needs
// (session, rate limit, the job with its steps and outputs) without the
// handler: the bare round trips.
func BenchmarkGetJob(b *testing.B) {
	e := setupBench(b)
	mux := http.NewServeMux()
	mux.Handle("GET /jobs/{id}", e.deps.UserRoute(api.GetJob(e.deps.Jobs(), cost.NewStore(e.deps.DB), cost.Default())))
	b.Run("handler", func(b *testing.B) {
		measure(b, func() {
			r := httptest.NewRequest(http.MethodGet, "/jobs/"+e.jobID.String(), nil)
			r.Header.Set("Authorization", "Bearer "+e.token)
			w := httptest.NewRecorder()
			mux.ServeHTTP(w, r)
			if w.Code != 200 {
				b.Fatalf("status %d: %s", w.Code, w.Body)
			}
		})
	})
	b.Run("sql", func(b *testing.B) {
		ctx := context.Background()
		db := e.deps.DB
		measure(b, func() {
			var n int
			must(b, db.QueryRow(ctx, `SELECT 1 FROM sessions WHERE token_hash = $1 AND revoked_at IS NULL AND expires_at > now()`, []byte("x")).Scan(&n), true)
			must(b, db.QueryRow(ctx, `INSERT INTO rate_limits (bucket, window_start, count, expires_at) VALUES ('b', date_trunc('minute', now()), 1, now())
				ON CONFLICT (bucket, window_start) DO UPDATE SET count = rate_limits.count + 1 RETURNING count`).Scan(&n), false)
			_, err := db.Exec(ctx, `SELECT j.*, (SELECT json_agg(s) FROM job_steps s WHERE s.job_id = j.id),
				(SELECT json_agg(o) FROM outputs o WHERE o.job_id = j.id) FROM jobs j WHERE j.id = $1`, e.jobID)
			must(b, err, false)
		})
	})
}

// BenchmarkCreateUpload is POST /uploads in process: session, rate limit,
// validation, the quota check and insert in one transaction, and presigning.
func BenchmarkCreateUpload(b *testing.B) {
	e := setupBench(b)
	svc, err := e.deps.Assets(context.Background())
	require.NoError(b, err)
	svc.DailyQuota = 1 << 62
	h := e.deps.UserRoute(api.CreateUpload(svc, nil))
	measure(b, func() {
		r := httptest.NewRequest(http.MethodPost, "/uploads", strings.NewReader(`{"filename":"clip.mp4","content_type":"video/mp4","size_bytes":1048576}`))
		r.Header.Set("Authorization", "Bearer "+e.token)
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != 201 {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	})
}

func must(b *testing.B, err error, noRowsOK bool) {
	if err != nil && (!noRowsOK || !strings.Contains(err.Error(), "no rows")) {
		b.Fatal(err)
	}
}
