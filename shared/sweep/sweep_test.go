package sweep_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/redub/redub/shared/asset"
	"github.com/redub/redub/shared/cost"
	"github.com/redub/redub/shared/job"
	"github.com/redub/redub/shared/metric"
	"github.com/redub/redub/shared/postgres"
	"github.com/redub/redub/shared/postgres/pgtest"
	"github.com/redub/redub/shared/queue"
	"github.com/redub/redub/shared/sweep"
)

type sent struct {
	mu   sync.Mutex
	msgs []queue.Message
}

func (s *sent) Send(_ context.Context, m queue.Message) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.msgs = append(s.msgs, m)
	return nil
}

// deadLetters is a dead-letter queue that hands out its bodies (with the
// body as receipt handle) and records what was deleted.
type deadLetters struct {
	bodies  map[string][]string
	deleted []string
}

func (d *deadLetters) ReceiveMessage(_ context.Context, in *sqs.ReceiveMessageInput, _ ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error) {
	out := &sqs.ReceiveMessageOutput{}
	for _, b := range d.bodies[*in.QueueUrl] {
		out.Messages = append(out.Messages, sqstypes.Message{Body: &b, ReceiptHandle: &b})
	}
	return out, nil
}

func (d *deadLetters) DeleteMessage(_ context.Context, in *sqs.DeleteMessageInput, _ ...func(*sqs.Options)) (*sqs.DeleteMessageOutput, error) {
	d.deleted = append(d.deleted, *in.ReceiptHandle)
	var left []string
	for _, b := range d.bodies[*in.QueueUrl] {
		if b != *in.ReceiptHandle {
			left = append(left, b)
		}
	}
	d.bodies[*in.QueueUrl] = left
	return &sqs.DeleteMessageOutput{}, nil
}

type cleaner struct {
	aborted  []string
	prefixes []string
}

func (c *cleaner) AbortMultipart(_ context.Context, _, uploadID string) error {
	c.aborted = append(c.aborted, uploadID)
	return nil
}

func (c *cleaner) DeletePrefix(_ context.Context, prefix string) (int, error) {
	c.prefixes = append(c.prefixes, prefix)
	return 1, nil
}

func newJob(t *testing.T, db *postgres.DB) (job.Job, uuid.UUID) {
	t.Helper()
	ctx := context.Background()
	user, asset := uuid.New(), uuid.New()
	_, err := db.Exec(ctx, `INSERT INTO users (id, email) VALUES ($1, $2)`, user, user.String()+"@example.com")
	require.NoError(t, err)
	_, err = db.Exec(ctx, `INSERT INTO assets (id, user_id, status, filename, content_type, size_bytes, object_key)
		VALUES ($1, $2, 'ready', 'a.mp4', 'video/mp4', 10, $3)`, asset, user, "uploads/"+user.String()+"/"+asset.String()+"/source.mp4")
	require.NoError(t, err)
	j, _, err := job.NewStore(db).Create(ctx, job.NewJob{UserID: user, AssetID: asset, Recipe: job.Captions})
	require.NoError(t, err)
	return j, user
}

func TestSweeper(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	ctx := context.Background()

	unsent, _ := newJob(t, db)
	_, err := db.Exec(ctx, `UPDATE job_steps SET updated_at = now() - interval '2 minutes' WHERE job_id = $1`, unsent.ID)
	require.NoError(t, err)
	justQueued, _ := newJob(t, db) // queued a moment ago: not resent yet

	// A worker died 40 s into transcode: its lease (30 s) has run out.
	dead, _ := newJob(t, db)
	_, err = db.Exec(ctx, `UPDATE job_steps SET status = 'running', attempts = 1, enqueued_at = now(), updated_at = now() - interval '40 seconds'
		WHERE job_id = $1 AND step = 'transcode'`, dead.ID)
	require.NoError(t, err)
	alive, _ := newJob(t, db) // running and renewed 5 s ago
	_, err = db.Exec(ctx, `UPDATE job_steps SET status = 'running', attempts = 1, enqueued_at = now(), updated_at = now() - interval '5 seconds'
		WHERE job_id = $1 AND step = 'transcode'`, alive.ID)
	require.NoError(t, err)

	lettered, _ := newJob(t, db)
	_, err = db.Exec(ctx, `UPDATE job_steps SET enqueued_at = now() WHERE job_id = $1`, lettered.ID)
	require.NoError(t, err)
	body, _ := json.Marshal(queue.Message{V: 1, JobID: lettered.ID, Step: "transcode", Attempt: 1})

	// A stale duplicate: transcode succeeded, yet a copy of its message was dead-lettered.
	healthy, _ := newJob(t, db)
	_, err = db.Exec(ctx, `UPDATE job_steps SET status = 'succeeded', enqueued_at = now() WHERE job_id = $1 AND step = 'transcode'`, healthy.ID)
	require.NoError(t, err)
	_, err = db.Exec(ctx, `UPDATE job_steps SET status = 'queued', enqueued_at = now() WHERE job_id = $1 AND step = 'transcribe'`, healthy.ID)
	require.NoError(t, err)
	healthyBody, _ := json.Marshal(queue.Message{V: 1, JobID: healthy.ID, Step: "transcode", Attempt: 1})
	// An older send: the step was sent again (dispatch 2) after its first message died.
	resent, _ := newJob(t, db)
	_, err = db.Exec(ctx, `UPDATE job_steps SET dispatch = 2, enqueued_at = now() WHERE job_id = $1 AND step = 'transcode'`, resent.ID)
	require.NoError(t, err)
	resentBody, _ := json.Marshal(queue.Message{V: 1, JobID: resent.ID, Step: "transcode", Attempt: 1})

	owner := uuid.New()
	_, err = db.Exec(ctx, `INSERT INTO users (id, email) VALUES ($1, 'o@example.com')`, owner)
	require.NoError(t, err)
	stale, fresh := uuid.New(), uuid.New()
	for _, a := range []struct {
		id  uuid.UUID
		age string
	}{{stale, "25 hours"}, {fresh, "1 hour"}} {
		_, err = db.Exec(ctx, `INSERT INTO assets (id, user_id, filename, content_type, size_bytes, object_key, upload_id, created_at)
			VALUES ($1, $2, 'big.mov', 'video/quicktime', 10, $3, 'mpu-1', now() - $4::interval)`, a.id, owner, "uploads/"+owner.String()+"/"+a.id.String()+"/source.mov", a.age)
		require.NoError(t, err)
	}

	q, c := &sent{}, &cleaner{}
	dl := &deadLetters{bodies: map[string][]string{"dlq": {string(body), `{"Records":[]}`, string(healthyBody), string(resentBody)}}}
	s := &sweep.Sweeper{Jobs: job.NewStore(db), Assets: asset.NewStore(db), Queue: q, Uploads: c, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		DeadLetters: dl, DLQURLs: []string{"dlq"}, Lease: 30 * time.Second}
	var emf bytes.Buffer
	ends := &cost.Ends{Events: s.Jobs, Usages: cost.NewStore(db), Prices: cost.Default(), Metrics: metric.New(&emf, "development")}
	s.JobMetrics = ends.Write
	r, err := s.Run(ctx)
	require.NoError(t, err)
	require.Equal(t, sweep.Report{Resent: 1, Restarted: 1, FailedDeadLetter: 1, StaleDeadLetters: 2, UploadsRemoved: 1, JobEndsMetered: 1}, r)
	l, err := metric.Parse(bytes.TrimSpace(emf.Bytes()))
	require.NoError(t, err, "one line: the job the dead letter failed")
	require.InDelta(t, 1.0, l.Metrics["JobsFailed"], 0)
	require.Equal(t, "captions", l.Dimensions["recipe"])

	require.Len(t, q.msgs, 2)
	require.Equal(t, queue.Message{JobID: unsent.ID, Step: "transcode", Attempt: 1}, q.msgs[0], "never sent: sent as it is")
	require.Equal(t, queue.Message{JobID: dead.ID, Step: "transcode", Attempt: 2}, q.msgs[1], "a dead worker's step: a new dispatch")
	_ = justQueued
	require.ElementsMatch(t, []string{string(healthyBody), string(resentBody)}, dl.deleted, "stale dead letters are removed")
	require.Equal(t, []string{string(body), `{"Records":[]}`}, dl.bodies["dlq"], "the one that failed its job stays for redub dlq")

	status := func(id uuid.UUID) (string, string) {
		var st string
		var reason *string
		require.NoError(t, db.QueryRow(ctx, `SELECT status, error FROM jobs WHERE id = $1`, id).Scan(&st, &reason))
		if reason == nil {
			return st, ""
		}
		return st, *reason
	}
	st, _ := status(dead.ID)
	require.Equal(t, "queued", st, "the dead worker's job is not failed: its step goes again")
	st, _ = status(alive.ID)
	require.Equal(t, "queued", st)
	st, _ = status(healthy.ID)
	require.Equal(t, "queued", st, "a stale dead letter never fails a healthy job")
	st, _ = status(resent.ID)
	require.Equal(t, "queued", st, "a dead letter of an older send never fails the job")
	st, reason := status(lettered.ID)
	require.Equal(t, "failed", st)
	require.Contains(t, reason, "dead-letter queue")

	require.Equal(t, []string{"mpu-1"}, c.aborted)
	require.Equal(t, []string{"uploads/" + owner.String() + "/" + stale.String() + "/"}, c.prefixes)
	var left []uuid.UUID
	rows, err := db.Query(ctx, `SELECT id FROM assets WHERE user_id = $1`, owner)
	require.NoError(t, err)
	for rows.Next() {
		var id uuid.UUID
		require.NoError(t, rows.Scan(&id))
		left = append(left, id)
	}
	require.Equal(t, []uuid.UUID{fresh}, left)

	// A second sweep finds nothing new: failing and resending are idempotent.
	q.msgs = nil
	r, err = s.Run(ctx)
	require.NoError(t, err)
	require.Equal(t, sweep.Report{}, r, "the dead letter is still there, but its job already failed")
	require.Empty(t, q.msgs)
}

// splitJob claims a job's transcode and splits it in three parts, none sent.
func splitJob(t *testing.T, db *postgres.DB) job.Job {
	t.Helper()
	ctx := context.Background()
	j, _ := newJob(t, db)
	store := job.NewStore(db)
	c, err := store.Claim(ctx, j.ID, "transcode", job.ClaimOptions{Lease: 30 * time.Second, MaxAttempts: 3})
	require.NoError(t, err)
	ds, err := store.Split(ctx, j.ID, "transcode", c.Attempt, []job.Range{{End: time.Minute}, {Start: time.Minute, End: 2 * time.Minute},
		{Start: 2 * time.Minute, End: 3 * time.Minute}})
	require.NoError(t, err)
	require.Len(t, ds, 3)
	return j
}

func TestSweeperSendsPartsAndJudgesTheirDeadLetters(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	ctx := context.Background()

	// The splitting worker died before it sent its parts.
	unsent := splitJob(t, db)
	_, err := db.Exec(ctx, `UPDATE job_parts SET updated_at = now() - interval '2 minutes' WHERE job_id = $1`, unsent.ID)
	require.NoError(t, err)

	// Part 2's worker died: its lease ran out; parts 1 and 3 are done or alive.
	dead := splitJob(t, db)
	_, err = db.Exec(ctx, `UPDATE job_parts SET enqueued_at = now(), status = 'running', attempts = 1,
		updated_at = CASE part WHEN 2 THEN now() - interval '40 seconds' ELSE now() END WHERE job_id = $1`, dead.ID)
	require.NoError(t, err)

	// Part 1's current message reached the dead-letter queue; part 3's older send did too.
	lettered := splitJob(t, db)
	_, err = db.Exec(ctx, `UPDATE job_parts SET enqueued_at = now(), dispatch = part WHERE job_id = $1`, lettered.ID)
	require.NoError(t, err)
	current, _ := json.Marshal(queue.Message{V: 2, JobID: lettered.ID, Step: "transcode", Part: 1, Attempt: 1})
	older, _ := json.Marshal(queue.Message{V: 2, JobID: lettered.ID, Step: "transcode", Part: 3, Attempt: 1})

	q := &sent{}
	dl := &deadLetters{bodies: map[string][]string{"dlq": {string(older), string(current)}}}
	s := &sweep.Sweeper{Jobs: job.NewStore(db), Assets: asset.NewStore(db), Queue: q, Uploads: &cleaner{},
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), DeadLetters: dl, DLQURLs: []string{"dlq"}, Lease: 30 * time.Second}
	r, err := s.Run(ctx)
	require.NoError(t, err)
	require.Equal(t, sweep.Report{Resent: 3, Restarted: 1, FailedDeadLetter: 1, StaleDeadLetters: 1}, r)

	var parts []queue.Message
	for _, m := range q.msgs {
		if m.JobID == unsent.ID {
			parts = append(parts, m)
		}
	}
	require.Equal(t, []queue.Message{{JobID: unsent.ID, Step: "transcode", Part: 1, Attempt: 1},
		{JobID: unsent.ID, Step: "transcode", Part: 2, Attempt: 1}, {JobID: unsent.ID, Step: "transcode", Part: 3, Attempt: 1}}, parts)
	require.Contains(t, q.msgs, queue.Message{JobID: dead.ID, Step: "transcode", Part: 2, Attempt: 2}, "the dead part alone, a new dispatch")
	require.Len(t, q.msgs, 4)
	require.Equal(t, []string{string(older)}, dl.deleted)

	var st, reason string
	require.NoError(t, db.QueryRow(ctx, `SELECT status, coalesce(error, '') FROM jobs WHERE id = $1`, lettered.ID).Scan(&st, &reason))
	require.Equal(t, "failed", st)
	require.Contains(t, reason, "transcode part 1 failed repeatedly")
	require.NoError(t, db.QueryRow(ctx, `SELECT status FROM jobs WHERE id = $1`, dead.ID).Scan(&st))
	require.Equal(t, "running", st)

	q.msgs = nil
	r, err = s.Run(ctx)
	require.NoError(t, err)
	require.Equal(t, sweep.Report{}, r)
}
