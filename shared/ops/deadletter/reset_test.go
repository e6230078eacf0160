package deadletter_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/redub/redub/shared/asset"
	"github.com/redub/redub/shared/job"
	"github.com/redub/redub/shared/ops/deadletter"
	"github.com/redub/redub/shared/postgres"
	"github.com/redub/redub/shared/postgres/pgtest"
	"github.com/redub/redub/shared/queue"
	"github.com/redub/redub/shared/sweep"
)

// newJob makes a captions job (transcode, transcribe) whose first step was
// sent, and returns it with its first step's message body.
func newJob(t *testing.T, db *postgres.DB) (job.Job, string) {
	t.Helper()
	ctx := t.Context()
	user, asset := uuid.New(), uuid.New()
	_, err := db.Exec(ctx, `INSERT INTO users (id, email) VALUES ($1, $2)`, user, user.String()+"@example.com")
	require.NoError(t, err)
	_, err = db.Exec(ctx, `INSERT INTO assets (id, user_id, status, filename, content_type, size_bytes, object_key)
		VALUES ($1, $2, 'ready', 'a.mp4', 'video/mp4', 10, $3)`, asset, user, "uploads/"+user.String()+"/"+asset.String()+"/source.mp4")
	require.NoError(t, err)
	j, _, err := job.NewStore(db).Create(ctx, job.NewJob{UserID: user, AssetID: asset, Recipe: job.Captions, TraceID: "t-" + asset.String()})
	require.NoError(t, err)
	_, err = db.Exec(ctx, `UPDATE job_steps SET enqueued_at = now() WHERE job_id = $1 AND step = 'transcode'`, j.ID)
	require.NoError(t, err)
	body, err := json.Marshal(queue.Message{V: queue.Version, JobID: j.ID, Step: job.StepTranscode, Attempt: 1, TraceID: j.TraceID})
	require.NoError(t, err)
	return j, string(body)
}

type stepRow struct {
	Status   string
	Attempts int
	Error    *string
	Enqueued *time.Time
	Finished *time.Time
}

func stepOf(t *testing.T, db *postgres.DB, id uuid.UUID, step string) stepRow {
	t.Helper()
	var r stepRow
	require.NoError(t, db.QueryRow(t.Context(), `SELECT status, attempts, error, enqueued_at, finished_at FROM job_steps WHERE job_id = $1 AND step = $2`,
		id, step).Scan(&r.Status, &r.Attempts, &r.Error, &r.Enqueued, &r.Finished))
	return r
}

func jobStatus(t *testing.T, db *postgres.DB, id uuid.UUID) (string, *string, *time.Time) {
	t.Helper()
	var (
		status   string
		reason   *string
		finished *time.Time
	)
	require.NoError(t, db.QueryRow(t.Context(), `SELECT status, error, finished_at FROM jobs WHERE id = $1`, id).Scan(&status, &reason, &finished))
	return status, reason, finished
}

// shortPeek makes the sweeper's peek hide messages for one second instead of
// thirty, so the test need not wait.
type shortPeek struct{ *sqs.Client }

func (s shortPeek) ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, opts ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error) {
	in.VisibilityTimeout = 1
	return s.Client.ReceiveMessage(ctx, in, opts...)
}

type noUploads struct{}

func (noUploads) AbortMultipart(context.Context, string, string) error { return nil }
func (noUploads) DeletePrefix(context.Context, string) (int, error)    { return 0, nil }
func (noUploads) Send(context.Context, queue.Message) error            { return nil }

// failingReset fails the reset of one job.
type failingReset struct {
	deadletter.JobReset
	fail uuid.UUID
}

func (f failingReset) Reset(ctx context.Context, m queue.Message) (deadletter.ResetResult, error) {
	if m.JobID == f.fail {
		return deadletter.ResetResult{}, errors.New("database unavailable")
	}
	return f.JobReset.Reset(ctx, m)
}

// sendWatcher records each job's status at the moment its message is sent.
type sendWatcher struct {
	*sqs.Client
	db     *postgres.DB
	atSend map[uuid.UUID]string
}

func (w *sendWatcher) SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, opts ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error) {
	for _, e := range in.Entries {
		m, err := queue.Decode(aws.ToString(e.MessageBody))
		if err != nil {
			return nil, err
		}
		var status string
		if err := w.db.QueryRow(ctx, `SELECT status FROM jobs WHERE id = $1`, m.JobID).Scan(&status); err != nil {
			return nil, err
		}
		w.atSend[m.JobID] = status
	}
	return w.Client.SendMessageBatch(ctx, in, opts...)
}

func TestRedriveResetsJobsTheSweeperFailed(t *testing.T) {
	t.Parallel()
	b := setup(t, 5, 30*time.Second)
	db := pgtest.New(t)
	ctx := t.Context()

	dead, deadBody := newJob(t, db)         // its message reached the DLQ; the sweeper fails it
	canceled, canceledBody := newJob(t, db) // canceled by its user meanwhile
	broken, brokenBody := newJob(t, db)     // its reset fails
	_, err := job.NewStore(db).Cancel(ctx, canceled.UserID, canceled.ID)
	require.NoError(t, err)
	b.send(t, b.pair.DeadLetter.URL, deadBody, canceledBody, brokenBody)

	sweeper := &sweep.Sweeper{Jobs: job.NewStore(db), Assets: asset.NewStore(db), Queue: noUploads{}, DeadLetters: shortPeek{b.client},
		DLQURLs: []string{b.pair.DeadLetter.URL}, Uploads: noUploads{}, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Lease: 30 * time.Second}
	rep, err := sweeper.Run(ctx)
	require.NoError(t, err)
	require.Equal(t, 2, rep.FailedDeadLetter)
	status, reason, _ := jobStatus(t, db, dead.ID)
	require.Equal(t, "failed", status)
	require.Contains(t, *reason, "dead-letter queue")
	require.Equal(t, "canceled", stepOf(t, db, dead.ID, job.StepTranscribe).Status)

	running, runningBody := newJob(t, db) // reached the DLQ after the sweep: still running
	b.send(t, b.pair.DeadLetter.URL, runningBody)
	time.Sleep(1100 * time.Millisecond) // the sweeper's peek

	w := &sendWatcher{Client: b.client, db: db, atSend: map[uuid.UUID]string{}}
	out, err := deadletter.Redrive(ctx, w, b.pair, failingReset{JobReset: deadletter.JobReset{DB: db}, fail: broken.ID}, deadletter.Options{Visibility: time.Second})
	require.NoError(t, err)
	require.Len(t, out.Moved, 3)
	require.Len(t, out.NotSent, 1)
	require.Equal(t, broken.ID, out.NotSent[0].Step.JobID)
	require.ErrorContains(t, out.NotSent[0].Err, "database unavailable")
	done := map[string]deadletter.ResetResult{}
	for _, r := range out.Resets {
		done[r.JobID] = r
	}
	require.True(t, done[dead.ID.String()].Done, done[dead.ID.String()].Note)
	require.False(t, done[canceled.ID.String()].Done)
	require.Contains(t, done[canceled.ID.String()].Note, "canceled")
	require.False(t, done[running.ID.String()].Done)
	require.Contains(t, done[running.ID.String()].Note, "job is queued")
	require.Equal(t, "running", w.atSend[dead.ID], "the job is reset before its message is sent")

	status, reason, finished := jobStatus(t, db, dead.ID)
	require.Equal(t, "running", status)
	require.Nil(t, reason)
	require.Nil(t, finished)
	first := stepOf(t, db, dead.ID, job.StepTranscode)
	require.Equal(t, "queued", first.Status)
	require.Zero(t, first.Attempts)
	require.Nil(t, first.Error)
	require.NotNil(t, first.Enqueued)
	next := stepOf(t, db, dead.ID, job.StepTranscribe)
	require.Equal(t, "pending", next.Status)
	require.Nil(t, next.Finished)
	status, _, _ = jobStatus(t, db, canceled.ID)
	require.Equal(t, "canceled", status, "a canceled job stays canceled")

	require.Equal(t, sorted([]string{deadBody, canceledBody, runningBody}), b.drain(t, b.pair.Source.URL))
	time.Sleep(1100 * time.Millisecond)
	require.Equal(t, []string{brokenBody}, b.drain(t, b.pair.DeadLetter.URL), "a message whose job could not be reset stays")

	// A second reset of the same message finds the job running and leaves it.
	m, err := queue.Decode(deadBody)
	require.NoError(t, err)
	again, err := deadletter.JobReset{DB: db}.Reset(ctx, m)
	require.NoError(t, err)
	require.False(t, again.Done)

	// A job that failed at another step is left failed.
	other, otherBody := newJob(t, db)
	_, err = db.Exec(ctx, `UPDATE job_steps SET status = CASE step WHEN 'transcode' THEN 'succeeded' ELSE 'failed' END WHERE job_id = $1`, other.ID)
	require.NoError(t, err)
	_, err = db.Exec(ctx, `UPDATE jobs SET status = 'failed', error = 'bad audio' WHERE id = $1`, other.ID)
	require.NoError(t, err)
	m, err = queue.Decode(otherBody)
	require.NoError(t, err)
	res, err := deadletter.JobReset{DB: db}.Reset(ctx, m)
	require.NoError(t, err)
	require.False(t, res.Done)
	require.Contains(t, res.Note, "not at transcode")
	status, _, _ = jobStatus(t, db, other.ID)
	require.Equal(t, "failed", status)
}
