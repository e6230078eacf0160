package pipeline_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/redub/redub/shared/job"
	"github.com/redub/redub/shared/pipeline"
	"github.com/redub/redub/shared/postgres"
	"github.com/redub/redub/shared/queue"
)

// jobOf makes a ready asset and a transcode job for a user.
func jobOf(t *testing.T, db *postgres.DB, user uuid.UUID) job.Job {
	t.Helper()
	ctx := context.Background()
	assetID := uuid.New()
	_, err := db.Exec(ctx, `INSERT INTO assets (id, user_id, status, filename, content_type, size_bytes, object_key)
		VALUES ($1, $2, 'ready', 'a.mp4', 'video/mp4', 10, $3)`, assetID, user, "uploads/"+user.String()+"/"+assetID.String()+"/source.mp4")
	require.NoError(t, err)
	j, _, err := job.NewStore(db).Create(ctx, job.NewJob{UserID: user, AssetID: assetID, Recipe: job.Transcode})
	require.NoError(t, err)
	return j
}

func msgOf(j job.Job) string {
	body, _ := json.Marshal(queue.Message{V: 1, JobID: j.ID, Step: job.StepTranscode, Attempt: 1})
	return string(body)
}

// TestAUsersBacklogWaitsItsTurn: with a share of one transcode per user,
// user A's second job is parked (its message dropped, no work, no hand-back
// that would count a receive) while A's first runs; user B's job runs at
// once beside it; when A's first ends, A's parked job is sent again.
func TestAUsersBacklogWaitsItsTurn(t *testing.T) {
	t.Parallel()
	b := setup(t, job.Transcode, job.Params{})
	ctx := context.Background()
	b.runner.StepsPerUser = 1
	userA := b.job.UserID
	a1, a2 := b.job, jobOf(t, b.db, userA)
	userB := uuid.New()
	_, err := b.db.Exec(ctx, `INSERT INTO users (id, email) VALUES ($1, $2)`, userB, userB.String()+"@example.com")
	require.NoError(t, err)
	b1 := jobOf(t, b.db, userB)

	started, release := make(chan uuid.UUID, 3), make(chan struct{})
	var mu sync.Mutex
	ran := map[uuid.UUID]int{}
	step := &fakeStep{name: job.StepTranscode}
	step.work = func(_ context.Context, sc *pipeline.Context) (pipeline.Result, error) {
		mu.Lock()
		ran[sc.Job.ID]++
		mu.Unlock()
		started <- sc.Job.ID
		if sc.Job.ID == a1.ID {
			<-release
		}
		return pipeline.Result{}, nil
	}
	done := make(chan error, 1)
	go func() { done <- b.runner.Handle(ctx, step, msgOf(a1)) }()
	require.Equal(t, a1.ID, <-started)

	require.NoError(t, b.runner.Handle(ctx, step, msgOf(a2)), "a parked step's message is done, not handed back")
	var enqueued *string
	require.NoError(t, b.db.QueryRow(ctx, `SELECT enqueued_at::text FROM job_steps WHERE job_id = $1`, a2.ID).Scan(&enqueued))
	require.Nil(t, enqueued, "the parked step is marked unsent, so the sweeper is its backstop")
	require.Equal(t, job.Queued, stepStatus(t, b.db, a2.ID))

	require.NoError(t, b.runner.Handle(ctx, step, msgOf(b1)), "another user's job runs beside A's")
	require.Equal(t, b1.ID, <-started)
	require.Empty(t, b.sent.steps(), "nothing of A's was sent while A's first ran")

	close(release)
	require.NoError(t, <-done)
	b.sent.mu.Lock()
	sent := append([]queue.Message(nil), b.sent.msgs...)
	b.sent.mu.Unlock()
	require.Len(t, sent, 1, "A's first ending sends A's parked job")
	require.Equal(t, a2.ID, sent[0].JobID)
	require.Equal(t, job.StepTranscode, sent[0].Step)

	require.NoError(t, b.runner.Handle(ctx, step, msgOf(a2)))
	require.Equal(t, a2.ID, <-started)
	require.Equal(t, map[uuid.UUID]int{a1.ID: 1, a2.ID: 1, b1.ID: 1}, ran)
	require.Equal(t, job.Succeeded, stepStatus(t, b.db, a2.ID))
}

func stepStatus(t *testing.T, db *postgres.DB, jobID uuid.UUID) job.Status {
	t.Helper()
	var s job.Status
	require.NoError(t, db.QueryRow(context.Background(), `SELECT status FROM job_steps WHERE job_id = $1 AND step = 'transcode'`, jobID).Scan(&s))
	return s
}
