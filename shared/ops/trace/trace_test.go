package trace_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/redub/redub/shared/job"
	"github.com/redub/redub/shared/ops/trace"
	"github.com/redub/redub/shared/postgres"
	"github.com/redub/redub/shared/postgres/pgtest"
)

var t0 = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

func at(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }

// failedJob makes a captions job whose transcode succeeded and whose
// transcribe failed after three attempts, with fixed times.
func failedJob(t *testing.T, db *postgres.DB) job.Job {
	t.Helper()
	ctx := t.Context()
	user, asset := uuid.New(), uuid.New()
	exec := func(sql string, args ...any) {
		t.Helper()
		_, err := db.Exec(ctx, sql, args...)
		require.NoError(t, err)
	}
	exec(`INSERT INTO users (id, email) VALUES ($1, $2)`, user, user.String()+"@example.com")
	exec(`INSERT INTO assets (id, user_id, status, kind, filename, content_type, size_bytes, object_key, created_at, updated_at)
		VALUES ($1, $2, 'ready', 'video', 'talk.mp4', 'video/mp4', 1258291, $3, $4, $5)`,
		asset, user, "uploads/"+user.String()+"/"+asset.String()+"/source.mp4", at(0), at(2.5))
	j, _, err := job.NewStore(db).Create(ctx, job.NewJob{UserID: user, AssetID: asset, Recipe: job.Captions, TraceID: "1-trace-" + asset.String()[:8]})
	require.NoError(t, err)
	exec(`UPDATE jobs SET status = 'failed', error = 'transcribe failed after 3 attempts', created_at = $2, started_at = $3, finished_at = $4
		WHERE id = $1`, j.ID, at(2.5), at(2.65), at(20))
	exec(`UPDATE job_steps SET status = 'succeeded', attempts = 1, usage = '{"seconds": 12.5}', enqueued_at = $2, started_at = $3, finished_at = $4
		WHERE job_id = $1 AND step = 'transcode'`, j.ID, at(2.6), at(2.65), at(8))
	exec(`UPDATE job_steps SET status = 'failed', attempts = 3, error = E'openai transcribe: HTTP 500\nupstream timeout',
		enqueued_at = $2, started_at = $3, finished_at = $4 WHERE job_id = $1 AND step = 'transcribe'`, j.ID, at(8.1), at(8.2), at(20))
	exec(`INSERT INTO outputs (id, job_id, step, kind, object_key, filename, content_type, size_bytes, created_at)
		VALUES ($1, $2, 'transcode', 'video', $3, 'talk.mp4', 'video/mp4', 2097152, $4)`, uuid.New(), j.ID, "jobs/"+j.ID.String()+"/transcode/video.mp4", at(8))
	exec(`INSERT INTO provider_calls (id, request_hash, provider, operation, job_id, step, status, attempts, error, created_at, updated_at)
		VALUES ($1, $2, 'openai', 'transcribe', $3, 'transcribe', 'failed', 3, 'HTTP 500', $4, $5)`,
		uuid.New(), []byte(uuid.New().String()), j.ID, at(9), at(10.5))
	return j
}

// row is a line expected in the output: its offset and words it contains.
type row struct {
	offset string
	parts  []string
}

// requireRows checks that the rows appear in out in this order.
func requireRows(t *testing.T, out string, rows []row) {
	t.Helper()
	lines := strings.Split(out, "\n")
	next := 0
	for _, r := range rows {
		found := false
		for next < len(lines) {
			line := lines[next]
			next++
			if !strings.HasPrefix(line, r.offset+" ") {
				continue
			}
			ok := true
			for _, p := range r.parts {
				ok = ok && strings.Contains(line, p)
			}
			if ok {
				found = true
				break
			}
		}
		require.True(t, found, "no line %q %q in order in:\n%s", r.offset, r.parts, out)
	}
}

var dbRows = []row{
	{"+0.000s", []string{"2026-03-01 10:00:00.000", "upload requested: talk.mp4 (video/mp4, 1.2 MiB)"}},
	{"+2.500s", []string{"S3 event", "asset ready (video)"}},
	{"+2.500s", []string{"job created (recipe captions)"}},
	{"+2.600s", []string{"transcode", "enqueued"}},
	{"+2.650s", []string{"job running"}},
	{"+2.650s", []string{"transcode", "started (0.050s in the queue)"}},
	{"+8.000s", []string{"transcode", "output video: talk.mp4 (video/mp4, 2.0 MiB)"}},
	{"+8.000s", []string{"transcode", " 1 ", "5.350s", `succeeded, usage {"seconds":12.5}`}},
	{"+8.100s", []string{"transcribe", "enqueued"}},
	{"+8.200s", []string{"transcribe", "started (0.100s in the queue)"}},
	{"+9.000s", []string{"transcribe", " 3 ", "1.500s", "provider call openai transcribe: failed: HTTP 500"}},
	{"+20.000s", []string{"transcribe", " 3 ", "11.800s", "failed after 3 attempts: openai transcribe: HTTP 500 ⏎ upstream timeout"}},
	{"+20.000s", []string{"20.000s", "job failed: transcribe failed after 3 attempts"}},
}

func TestTimelineFromTheDatabase(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	j := failedJob(t, db)

	tl, err := trace.Load(t.Context(), db, j.ID)
	require.NoError(t, err)
	var out bytes.Buffer
	require.NoError(t, tl.Write(&out))
	require.Contains(t, out.String(), "job "+j.ID.String()+"  recipe captions  status failed")
	requireRows(t, out.String(), dbRows)
	require.Len(t, tl.Events, len(dbRows))

	_, err = trace.Load(t.Context(), db, uuid.New())
	require.ErrorIs(t, err, trace.ErrNotFound)
}

func TestTimelineMergesLogLines(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	j := failedJob(t, db)
	other := uuid.New()
	cloudWatch := fmt.Sprintf(`{"logStreamName":"2026/03/01/[$LATEST]abc","timestamp":%d,"message":"{\"time\":\"2026-03-01T10:00:10.000Z\",\"level\":\"ERROR\",\"msg\":\"provider call failed\",\"job_id\":\"%s\",\"step\":\"transcribe\",\"status\":500,\"error\":\"HTTP 500\"}\n"}`,
		at(10).UnixMilli(), j.ID)
	logs := strings.Join([]string{
		`stack | time=2026-03-01T10:00:01Z level=INFO msg="not json"`,
		fmt.Sprintf(`TranscribeFunction | {"time":"2026-03-01T10:00:08.250Z","level":"INFO","msg":"claimed","job_id":"%s","step":"transcribe","attempt":2,"note":"after a timeout"}`, j.ID),
		fmt.Sprintf(`TranscribeFunction | {"time":"2026-03-01T10:00:08.300Z","level":"INFO","msg":"claimed","job_id":"%s","step":"transcribe"}`, other),
		fmt.Sprintf(`{"time":"2026-03-01T10:00:01.000Z","level":"INFO","msg":"upload completed","trace_id":"%s"}`, j.TraceID),
		fmt.Sprintf(`{"level":"INFO","msg":"no time","job_id":"%s"}`, j.ID),
		cloudWatch,
		fmt.Sprintf(`SweeperFunction | {"time":"2026-03-01T10:00:20.000Z","level":"WARN","msg":"job failed by the sweeper","job_id":"%s","reason":"it stopped"}`, j.ID),
	}, "\n")
	events, err := trace.ReadLogs(strings.NewReader(logs), j.ID.String(), j.TraceID)
	require.NoError(t, err)
	require.Len(t, events, 4)

	tl, err := trace.Load(t.Context(), db, j.ID)
	require.NoError(t, err)
	tl.Merge(events)
	var out bytes.Buffer
	require.NoError(t, tl.Write(&out))
	requireRows(t, out.String(), []row{
		{"+0.000s", []string{"upload requested"}},
		{"+1.000s", []string{"log", "INFO upload completed"}},
		{"+2.500s", []string{"job created"}},
		{"+8.200s", []string{"transcribe", "started"}},
		{"+8.250s", []string{"transcribe", " 2 ", "TranscribeFunction", `INFO claimed note="after a timeout"`}},
		{"+9.000s", []string{"provider call"}},
		{"+10.000s", []string{"transcribe", "2026/03/01/[$LATEST]abc", "ERROR provider call failed status=500: HTTP 500"}},
		{"+20.000s", []string{"failed after 3 attempts"}},
		{"+20.000s", []string{"job failed"}},
		{"+20.000s", []string{"SweeperFunction", `WARN job failed by the sweeper reason="it stopped"`}},
	})
	require.NotContains(t, out.String(), "not json")
	require.NotContains(t, out.String(), "no time")
	require.NotContains(t, out.String(), other.String())
}

func TestTimelineShowsParts(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	ctx := t.Context()
	user, asset := uuid.New(), uuid.New()
	_, err := db.Exec(ctx, `INSERT INTO users (id, email) VALUES ($1, $2)`, user, user.String()+"@example.com")
	require.NoError(t, err)
	_, err = db.Exec(ctx, `INSERT INTO assets (id, user_id, status, kind, filename, content_type, size_bytes, object_key)
		VALUES ($1, $2, 'ready', 'video', 'long.mp4', 'video/mp4', 1000, $3)`, asset, user, "uploads/"+user.String()+"/"+asset.String()+"/source.mp4")
	require.NoError(t, err)
	store := job.NewStore(db)
	j, _, err := store.Create(ctx, job.NewJob{UserID: user, AssetID: asset, Recipe: job.Transcode})
	require.NoError(t, err)
	opts := job.ClaimOptions{Lease: time.Minute, MaxAttempts: 3}
	c, err := store.Claim(ctx, j.ID, job.StepTranscode, opts)
	require.NoError(t, err)
	_, err = store.Split(ctx, j.ID, job.StepTranscode, c.Attempt, []job.Range{
		{Start: 0, End: 5 * time.Minute}, {Start: 5 * time.Minute, End: 10 * time.Minute}, {Start: 10 * time.Minute, End: 61*time.Minute + 500*time.Millisecond}})
	require.NoError(t, err)
	p1, err := store.ClaimPart(ctx, j.ID, job.StepTranscode, 1, opts)
	require.NoError(t, err)
	_, err = store.FinishPart(ctx, j.ID, job.StepTranscode, 1, p1.Attempt, job.PartCost{BilledMS: 41234, MemoryMB: 3008})
	require.NoError(t, err)
	p2, err := store.ClaimPart(ctx, j.ID, job.StepTranscode, 2, opts)
	require.NoError(t, err)
	require.NoError(t, store.RetryPart(ctx, j.ID, job.StepTranscode, 2, p2.Attempt, "S3 read: HTTP 503"))

	tl, err := trace.Load(ctx, db, j.ID)
	require.NoError(t, err)
	var out bytes.Buffer
	require.NoError(t, tl.Write(&out))
	text := out.String()
	require.Contains(t, text, "part 1 (0:00.000-5:00.000) succeeded")
	require.Contains(t, text, "part 2 (5:00.000-10:00.000) started")
	require.Contains(t, text, "\nparts of transcode (3, 1 done):\n")
	_, after, ok := strings.Cut(text, "parts of transcode (3, 1 done):\n")
	require.True(t, ok)
	var table []string
	for _, line := range strings.Split(after, "\n") {
		table = append(table, strings.Join(strings.Fields(line), " "))
	}
	require.Equal(t, []string{
		"PART RANGE STATUS ATTEMPTS BILLED ERROR",
		"1 0:00.000-5:00.000 succeeded 1 41234 ms -",
		"2 5:00.000-10:00.000 queued 1 - S3 read: HTTP 503",
		"3 10:00.000-1:01:00.500 queued 0 - -",
		"",
	}, table)
}
