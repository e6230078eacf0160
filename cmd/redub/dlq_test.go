package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/redub/redub/local/stack"
	"github.com/redub/redub/shared/job"
	"github.com/redub/redub/shared/ops/deadletter"
	"github.com/redub/redub/shared/postgres"
	"github.com/redub/redub/shared/postgres/pgtest"
	"github.com/redub/redub/shared/queue"
)

// dlqLogs collects the stack's merged output.
type dlqLogs struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *dlqLogs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *dlqLogs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestDlqDrillOnTheLocalStack runs the whole story on the real local stack:
// a step that keeps failing sends its messages to the dead-letter queue, the
// sweeper fails their jobs, `dlq list` and `dlq show` find them (and leave
// them), and `dlq redrive --reset-jobs` puts them back so the step runs them
// again; `trace` then tells one job's story from the database and the logs.
func TestDlqDrillOnTheLocalStack(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the whole local stack")
	}
	t.Parallel()
	root, err := filepath.Abs("../..")
	require.NoError(t, err)
	u := pgtest.NewEmptyDatabase(t)
	vars := map[string]string{"DATABASE_URL": u.Pooled, "DATABASE_URL_UNPOOLED": u.Direct, "PATH": os.Getenv("PATH"), "HOME": os.Getenv("HOME")}
	logs := &dlqLogs{}
	stateDir := t.TempDir()
	startCtx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()
	// The template's queue settings: the messages are put in the dead-letter
	// queue directly, as if their receives had run out (the stand-in's redrive
	// is tested in local/sqs).
	st, err := stack.Start(startCtx, stack.Options{Root: root, StateDir: stateDir, Getenv: func(k string) string { return vars[k] },
		Out: logs})
	require.NoError(t, err, "stack logs:\n%s", logs.String())
	t.Cleanup(func() {
		st.Stop(context.Background())
		if t.Failed() {
			t.Logf("stack logs:\n%s", logs.String())
		}
	})
	db, err := postgres.New(postgres.Options{URL: u.Pooled})
	require.NoError(t, err)
	t.Cleanup(db.Close)
	ctx := t.Context()
	exec := func(sql string, args ...any) {
		t.Helper()
		_, err := db.Exec(ctx, sql, args...)
		require.NoError(t, err)
	}

	// Three transcode jobs whose step was sent and whose message then died:
	// it is in the dead-letter queue, the step still queued.
	src, ok := st.Queue("TranscodeQueue")
	require.True(t, ok)
	dlq, ok := st.Queue("TranscodeDeadLetterQueue")
	require.True(t, ok)
	var ids []uuid.UUID
	for range 3 {
		user, asset := uuid.New(), uuid.New()
		exec(`INSERT INTO users (id, email) VALUES ($1, $2)`, user, user.String()+"@example.com")
		exec(`INSERT INTO assets (id, user_id, status, kind, filename, content_type, size_bytes, object_key)
			VALUES ($1, $2, 'ready', 'video', 'talk.mp4', 'video/mp4', 1024, $3)`, asset, user, "uploads/"+user.String()+"/"+asset.String()+"/source.mp4")
		j, _, err := job.NewStore(db).Create(ctx, job.NewJob{UserID: user, AssetID: asset, Recipe: job.Transcode, TraceID: "1-drill-" + asset.String()[:8]})
		require.NoError(t, err)
		exec(`UPDATE job_steps SET attempts = 1, enqueued_at = now(), started_at = now() WHERE job_id = $1`, j.ID)
		exec(`UPDATE jobs SET status = 'running', started_at = now() WHERE id = $1`, j.ID)
		body, err := json.Marshal(queue.Message{V: queue.Version, JobID: j.ID, Step: job.StepTranscode, Attempt: 1, TraceID: j.TraceID})
		require.NoError(t, err)
		_, err = st.SQS().SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(dlq.URL), MessageBody: aws.String(string(body))})
		require.NoError(t, err)
		ids = append(ids, j.ID)
	}
	depth := func() int {
		d, err := deadletter.QueueDepth(ctx, st.SQS(), dlq.URL)
		require.NoError(t, err)
		return d.Visible
	}
	require.Eventually(t, func() bool { return depth() == 3 }, time.Minute, 200*time.Millisecond, "the messages never reached the dead-letter queue")

	dlqRun := func(args ...string) (string, error) {
		env, stdout, stderr := traceEnv(vars)
		err := run(ctx, append([]string{"dlq"}, args...), env)
		return stdout.String() + stderr.String(), err
	}

	// list: found through the running stack's state, or through an endpoint.
	out, err := dlqRun("list", "--stack-dir", stateDir)
	require.NoError(t, err, out)
	require.Regexp(t, `(?m)^TranscodeDeadLetterQueue\s+3\s+\d+\s+TranscodeQueue\s+5$`, out)
	require.Regexp(t, `(?m)^MixDeadLetterQueue\s+0\s+0\s+MixQueue\s+5$`, out)
	out, err = dlqRun("list", "--endpoint", st.Env()["AWS_ENDPOINT_URL_SQS"])
	require.NoError(t, err, out)
	require.Regexp(t, `(?m)^TranscodeDeadLetterQueue\s+3\s`, out)
	out, err = dlqRun("list", "--queue-url", src.URL) // the endpoint comes from the URL
	require.NoError(t, err, out)
	require.Regexp(t, `(?m)^TranscodeDeadLetterQueue\s+3\s+\d+\s+TranscodeQueue\s+5$`, out)
	require.NotContains(t, out, "MixQueue")

	// show: every message, decoded, and still there afterwards.
	out, err = dlqRun("show", "TranscodeQueue", "--stack-dir", stateDir)
	require.NoError(t, err, out)
	require.Contains(t, out, "3 message(s) shown")
	for _, id := range ids {
		require.Contains(t, out, "job "+id.String()+"  step transcode")
	}
	require.Equal(t, 3, depth(), "show leaves the messages in the queue")

	// The sweeper fails the jobs whose messages it finds there.
	for _, sch := range st.Template().Functions["SweeperFunction"].Schedules {
		_, err := st.Fire(ctx, sch.Name)
		require.NoError(t, err)
	}
	for _, id := range ids {
		var status, reason string
		require.NoError(t, db.QueryRow(ctx, `SELECT status, coalesce(error, '') FROM jobs WHERE id = $1`, id).Scan(&status, &reason))
		require.Equal(t, "failed", status)
		require.Contains(t, reason, "dead-letter queue")
	}

	// redrive --reset-jobs. The sweeper's peek hides what it read for 30 s,
	// so the first runs may find nothing; running redrive again is safe.
	movedRe := regexp.MustCompile(`(?m)^moved (\d+), left (\d+) in TranscodeDeadLetterQueue, (\d+) sent`)
	moved := 0
	var all strings.Builder
	require.Eventually(t, func() bool {
		out, err := dlqRun("redrive", "--stack-dir", stateDir, "TranscodeDeadLetterQueue", "--reset-jobs")
		require.NoError(t, err, out)
		all.WriteString(out)
		m := movedRe.FindStringSubmatch(out)
		require.NotNil(t, m, out)
		n, _ := strconv.Atoi(m[1])
		require.Equal(t, "0", m[2], out)
		require.Equal(t, "0", m[3], out)
		moved += n
		return moved >= 3
	}, 2*time.Minute, 2*time.Second)
	require.Equal(t, 3, moved)
	require.Equal(t, 3, strings.Count(all.String(), "job reset"), all.String())
	require.Zero(t, depth(), "the dead-letter queue is empty")

	// The reset jobs run again: each message reached the step, which claimed it.
	require.Eventually(t, func() bool {
		for _, id := range ids {
			var attempts int
			var status string
			require.NoError(t, db.QueryRow(ctx, `SELECT attempts, status FROM job_steps WHERE job_id = $1`, id).Scan(&attempts, &status))
			if attempts == 0 || status == "queued" {
				return false
			}
		}
		return true
	}, time.Minute, 200*time.Millisecond, "the redriven messages never reached the step")

	// trace: the story of one job, with the stack's log lines.
	logFile := filepath.Join(t.TempDir(), "dev.log")
	require.NoError(t, os.WriteFile(logFile, []byte(logs.String()), 0o644))
	env, stdout, stderr := traceEnv(vars)
	require.NoError(t, run(ctx, []string{"trace", ids[0].String(), "--logs", logFile}, env), stderr.String())
	require.Contains(t, stdout.String(), "job created (recipe transcode)")
	require.Contains(t, stdout.String(), "SweeperFunction")
	require.Contains(t, stdout.String(), "job failed by the sweeper")
}

func TestDlqTargets(t *testing.T) {
	t.Parallel()
	local := map[string]string{"AWS_ACCESS_KEY_ID": "AKIA", "AWS_SECRET_ACCESS_KEY": "secret", "AWS_ENDPOINT_URL_SQS": "http://127.0.0.1:1"}
	for _, tc := range []struct {
		name  string
		flags dlqFlags
		vars  map[string]string
		where string
		err   string
	}{
		{"an AWS queue URL names its region", dlqFlags{queueURL: "https://sqs.eu-west-1.amazonaws.com/123456789012/redub-production-TranscodeQueue-X"}, map[string]string{"AWS_ACCESS_KEY_ID": "AKIA", "AWS_SECRET_ACCESS_KEY": "s"}, "AWS eu-west-1", ""},
		{"--aws ignores a local endpoint in the environment", dlqFlags{aws: true}, map[string]string{"AWS_ACCESS_KEY_ID": "AKIA", "AWS_SECRET_ACCESS_KEY": "s", "AWS_REGION": "us-west-2", "AWS_ENDPOINT_URL_SQS": "http://127.0.0.1:1"}, "AWS us-west-2", ""},
		{"AWS needs credentials", dlqFlags{aws: true}, map[string]string{"AWS_REGION": "us-west-2"}, "", "AWS_ACCESS_KEY_ID"},
		{"AWS needs a region", dlqFlags{aws: true}, map[string]string{"AWS_ACCESS_KEY_ID": "AKIA", "AWS_SECRET_ACCESS_KEY": "s"}, "", "AWS_REGION"},
		{"a local queue URL names its endpoint", dlqFlags{queueURL: "http://127.0.0.1:3901/000000000000/MixDeadLetterQueue"}, nil, "http://127.0.0.1:3901", ""},
		{"--endpoint wins", dlqFlags{endpoint: "http://localhost:9324"}, local, "http://localhost:9324", ""},
		{"then AWS_ENDPOINT_URL_SQS", dlqFlags{}, local, "http://127.0.0.1:1", ""},
		{"else the local stack", dlqFlags{stackDir: t.TempDir()}, nil, "", "no local stack is running"},
	} {
		env, _, _ := traceEnv(tc.vars)
		_, where, err := dlqClient(t.Context(), tc.flags, env)
		if tc.err != "" {
			require.ErrorContains(t, err, tc.err, tc.name)
			continue
		}
		require.NoError(t, err, tc.name)
		require.Equal(t, tc.where, where, tc.name)
	}
}
