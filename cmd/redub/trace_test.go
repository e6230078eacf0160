package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/redub/redub/shared/cost"
	"github.com/redub/redub/shared/job"
	"github.com/redub/redub/shared/postgres"
	"github.com/redub/redub/shared/postgres/pgtest"
)

// traceEnv is a process environment holding only vars, with captured output.
func traceEnv(vars map[string]string) (*environ, *bytes.Buffer, *bytes.Buffer) {
	var stdout, stderr bytes.Buffer
	return &environ{getenv: func(k string) string { return vars[k] }, stdout: &stdout, stderr: &stderr}, &stdout, &stderr
}

// requireInOrder checks that each want (an offset and words of its line)
// matches a line of out after the previous match.
func requireInOrder(t *testing.T, out string, want [][]string) {
	t.Helper()
	lines := strings.Split(out, "\n")
	next := 0
outer:
	for _, w := range want {
		for next < len(lines) {
			line := lines[next]
			next++
			if !strings.HasPrefix(line, w[0]+" ") {
				continue
			}
			all := true
			for _, part := range w[1:] {
				all = all && strings.Contains(line, part)
			}
			if all {
				continue outer
			}
		}
		t.Fatalf("no line %q in order in:\n%s", w, out)
	}
}

func TestTraceCommand(t *testing.T) {
	t.Parallel()
	u := pgtest.NewDatabase(t)
	db, err := postgres.New(postgres.Options{URL: u.Pooled})
	require.NoError(t, err)
	t.Cleanup(db.Close)
	ctx := t.Context()
	t0 := time.Date(2026, 4, 2, 8, 30, 0, 0, time.UTC)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	exec := func(sql string, args ...any) {
		t.Helper()
		_, err := db.Exec(ctx, sql, args...)
		require.NoError(t, err)
	}

	user, asset := uuid.New(), uuid.New()
	exec(`INSERT INTO users (id, email) VALUES ($1, $2)`, user, user.String()+"@example.com")
	exec(`INSERT INTO assets (id, user_id, status, kind, filename, content_type, size_bytes, object_key, created_at, updated_at)
		VALUES ($1, $2, 'ready', 'audio', 'memo.m4a', 'audio/mp4', 2048, $3, $4, $5)`,
		asset, user, "uploads/"+user.String()+"/"+asset.String()+"/source.m4a", at(0), at(1.25))
	j, _, err := job.NewStore(db).Create(ctx, job.NewJob{UserID: user, AssetID: asset, Recipe: job.Transcode, TraceID: "1-cmdtrace"})
	require.NoError(t, err)
	exec(`UPDATE jobs SET status = 'failed', error = 'transcode failed: ffmpeg exited 1', created_at = $2, started_at = $3, finished_at = $4 WHERE id = $1`,
		j.ID, at(1.25), at(1.5), at(4))
	exec(`UPDATE job_steps SET status = 'failed', attempts = 2, error = E'ffmpeg exited 1\nInvalid data found when processing input',
		enqueued_at = $2, started_at = $3, finished_at = $4 WHERE job_id = $1`, j.ID, at(1.3), at(1.5), at(4))

	// 0.5 GB-seconds at arm64 ($0.0000133334 each) and one Lambda request ($0.0000002).
	require.NoError(t, cost.NewStore(db).Record(ctx, []cost.Usage{
		{JobID: j.ID, Step: "transcode", Service: "lambda", What: "duration_arm64", Quantity: 0.5, Unit: "GB-seconds"},
		{JobID: j.ID, Step: "transcode", Service: "lambda", What: "requests", Quantity: 1, Unit: "requests"},
	}))

	logs := filepath.Join(t.TempDir(), "dev.log")
	require.NoError(t, os.WriteFile(logs, []byte(strings.Join([]string{
		fmt.Sprintf(`TranscodeFunction | {"time":"2026-04-02T08:30:02.000Z","level":"WARN","msg":"ffmpeg failed, will retry","job_id":"%s","step":"transcode"}`, j.ID),
		fmt.Sprintf(`TranscodeFunction | {"time":"2026-04-02T08:30:02.100Z","level":"INFO","msg":"another job","job_id":"%s","step":"transcode"}`, uuid.New()),
		"stack | plain text line",
	}, "\n")), 0o644))

	env, stdout, stderr := traceEnv(map[string]string{"DATABASE_URL": u.Pooled})
	require.NoError(t, run(ctx, []string{"trace", j.ID.String(), "--logs", logs}, env), stderr.String())
	requireInOrder(t, stdout.String(), [][]string{
		{"+0.000s", "2026-04-02 08:30:00.000", "upload requested: memo.m4a (audio/mp4, 2.0 KiB)"},
		{"+1.250s", "S3 event", "asset ready (audio)"},
		{"+1.250s", "job created (recipe transcode)"},
		{"+1.300s", "transcode", "enqueued"},
		{"+1.500s", "transcode", "started (0.200s in the queue)"},
		{"+2.000s", "transcode", "TranscodeFunction", "WARN ffmpeg failed, will retry"},
		{"+4.000s", "transcode", " 2 ", "2.500s", "failed after 2 attempts: ffmpeg exited 1 ⏎ Invalid data found when processing input"},
		{"+4.000s", "2.750s", "job failed: transcode failed: ffmpeg exited 1"},
	})
	require.Contains(t, stdout.String(), "cost per step")
	requireInOrder(t, stdout.String(), [][]string{{"  transcode", "$0.000007", "lambda duration_arm64 0.5 GB-seconds, lambda requests 1 requests"}, {"  total", "$0.000007"}})
	require.NotContains(t, stdout.String(), "another job")
	require.Contains(t, stderr.String(), "1 log line(s)")

	// Flags may come first; a job that does not exist is an error, not a blank timeline.
	env, _, _ = traceEnv(map[string]string{"DATABASE_URL_UNPOOLED": u.Direct})
	require.ErrorContains(t, run(ctx, []string{"trace", "--logs", logs, uuid.NewString()}, env), "job not found")
	env, _, _ = traceEnv(map[string]string{"DATABASE_URL": u.Pooled})
	require.ErrorIs(t, run(ctx, []string{"trace", "job-42"}, env), errUsage)
}
