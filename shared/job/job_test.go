package job_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/redub/redub/shared/apperr"
	"github.com/redub/redub/shared/job"
	"github.com/redub/redub/shared/postgres"
	"github.com/redub/redub/shared/postgres/pgtest"
	"github.com/redub/redub/shared/queue"
)

type bundle struct {
	db    *postgres.DB
	store *job.Store
	user  uuid.UUID
	asset uuid.UUID
}

func setup(t *testing.T) bundle {
	t.Helper()
	db := pgtest.New(t)
	b := bundle{db: db, store: job.NewStore(db), user: newUser(t, db)}
	b.asset = newAsset(t, db, b.user, "ready")
	return b
}

func newUser(t *testing.T, db *postgres.DB) uuid.UUID {
	id := uuid.New()
	_, err := db.Exec(context.Background(), `INSERT INTO users (id, email) VALUES ($1, $2)`, id, id.String()+"@example.com")
	require.NoError(t, err)
	return id
}

func newAsset(t *testing.T, db *postgres.DB, user uuid.UUID, status string) uuid.UUID {
	id := uuid.New()
	_, err := db.Exec(context.Background(), `INSERT INTO assets (id, user_id, status, filename, content_type, size_bytes, object_key)
		VALUES ($1, $2, $3, 'a.mp4', 'video/mp4', 10, $4)`, id, user, status, "uploads/"+user.String()+"/"+id.String()+"/source.mp4")
	require.NoError(t, err)
	return id
}

func TestStepsPerRecipe(t *testing.T) {
	t.Parallel()
	require.Equal(t, []string{"transcode"}, job.Steps(job.Transcode, job.Params{}))
	require.Equal(t, []string{"transcode", "transcribe"}, job.Steps(job.Captions, job.Params{}))
	require.Equal(t, []string{"transcode", "transcribe", "translate"}, job.Steps(job.Captions, job.Params{TargetLanguage: "es"}))
	require.Equal(t, []string{"transcode", "transcribe", "synthesize", "mix"}, job.Steps(job.Voiceover, job.Params{}))
	require.Equal(t, []string{"transcode", "transcribe", "translate", "synthesize", "mix"}, job.Steps(job.Voiceover, job.Params{TargetLanguage: "pt-BR"}))

	_, err := job.ParseRecipe("karaoke")
	require.Equal(t, apperr.Invalid, apperr.CodeOf(err))
	for _, raw := range []string{`{"target_language":"english!"}`, `{"voice":"a b"}`, `{"nope":1}`, `[1]`} {
		_, err := job.ParseParams(job.Voiceover, json.RawMessage(raw))
		require.Equal(t, apperr.Invalid, apperr.CodeOf(err), raw)
	}
	_, err = job.ParseParams(job.Transcode, json.RawMessage(`{"target_language":"es"}`))
	require.Equal(t, apperr.Invalid, apperr.CodeOf(err))
	p, err := job.ParseParams(job.Voiceover, json.RawMessage(`{"target_language":"es","voice":"Rachel_2"}`))
	require.NoError(t, err)
	require.Equal(t, job.Params{TargetLanguage: "es", Voice: "Rachel_2"}, p)
}

func TestCreateIsIdempotent(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	n := job.NewJob{UserID: b.user, AssetID: b.asset, Recipe: job.Voiceover, IdempotencyKey: "k1", RequestHash: []byte("h1"), RequireReady: true}
	j1, created, err := b.store.Create(ctx, n)
	require.NoError(t, err)
	require.True(t, created)
	require.Equal(t, job.Queued, j1.Status)
	require.Len(t, j1.Steps, 4)
	require.Equal(t, job.Queued, j1.Steps[0].Status)
	require.Equal(t, job.Pending, j1.Steps[3].Status)

	j2, created, err := b.store.Create(ctx, n)
	require.NoError(t, err)
	require.False(t, created)
	require.Equal(t, j1.ID, j2.ID)

	n.RequestHash = []byte("other body")
	_, _, err = b.store.Create(ctx, n)
	require.Equal(t, apperr.Unprocessable, apperr.CodeOf(err))

	var count int
	require.NoError(t, b.db.QueryRow(ctx, `SELECT count(*) FROM jobs`).Scan(&count))
	require.Equal(t, 1, count)
}

func TestCreateChecksTheAsset(t *testing.T) {
	t.Parallel()
	b := setup(t)
	other := newUser(t, b.db)
	_, _, err := b.store.Create(t.Context(), job.NewJob{UserID: other, AssetID: b.asset, Recipe: job.Transcode, RequireReady: true})
	require.Equal(t, apperr.NotFound, apperr.CodeOf(err), "another user's asset is not found")
	pending := newAsset(t, b.db, b.user, "pending")
	_, _, err = b.store.Create(t.Context(), job.NewJob{UserID: b.user, AssetID: pending, Recipe: job.Transcode, RequireReady: true})
	require.Equal(t, apperr.Conflict, apperr.CodeOf(err))
}

func TestGetListAndCancel(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	var ids []uuid.UUID
	for range 5 {
		j, _, err := b.store.Create(ctx, job.NewJob{UserID: b.user, AssetID: b.asset, Recipe: job.Captions})
		require.NoError(t, err)
		ids = append(ids, j.ID)
	}
	other := newUser(t, b.db)
	_, err := b.store.Get(ctx, other, ids[0])
	require.Equal(t, apperr.NotFound, apperr.CodeOf(err))

	var seen []uuid.UUID
	cursor := ""
	for {
		page, next, err := b.store.List(ctx, b.user, job.ListOptions{Limit: 2, Cursor: cursor})
		require.NoError(t, err)
		require.LessOrEqual(t, len(page), 2)
		for _, j := range page {
			seen = append(seen, j.ID)
		}
		if next == "" {
			break
		}
		cursor = next
	}
	require.Len(t, seen, 5)
	require.ElementsMatch(t, ids, seen)
	require.Equal(t, ids[4], seen[0], "newest first")

	c, err := b.store.Cancel(ctx, b.user, ids[0])
	require.NoError(t, err)
	require.Equal(t, job.Canceled, c.Status)
	for _, s := range c.Steps {
		require.Equal(t, job.Canceled, s.Status)
	}
	_, err = b.store.Cancel(ctx, b.user, ids[0])
	require.Equal(t, apperr.Conflict, apperr.CodeOf(err))
	_, err = b.store.Cancel(ctx, other, ids[1])
	require.Equal(t, apperr.NotFound, apperr.CodeOf(err))

	canceled, _, err := b.store.List(ctx, b.user, job.ListOptions{Status: job.Canceled})
	require.NoError(t, err)
	require.Len(t, canceled, 1)
	_, _, err = b.store.List(ctx, b.user, job.ListOptions{Status: "exploded"})
	require.Equal(t, apperr.Invalid, apperr.CodeOf(err))
	_, _, err = b.store.List(ctx, b.user, job.ListOptions{Cursor: "garbage!"})
	require.Equal(t, apperr.Invalid, apperr.CodeOf(err))
}

type sent struct{ msgs []queue.Message }

func (s *sent) Send(_ context.Context, m queue.Message) error { s.msgs = append(s.msgs, m); return nil }

func TestEnqueueFirst(t *testing.T) {
	t.Parallel()
	b := setup(t)
	j, _, err := b.store.Create(t.Context(), job.NewJob{UserID: b.user, AssetID: b.asset, Recipe: job.Transcode, TraceID: "tr"})
	require.NoError(t, err)
	q := &sent{}
	require.NoError(t, b.store.EnqueueFirst(t.Context(), q, j))
	require.Equal(t, []queue.Message{{JobID: j.ID, Step: "transcode", Attempt: 1, TraceID: "tr"}}, q.msgs)
	var enqueued bool
	require.NoError(t, b.db.QueryRow(t.Context(), `SELECT enqueued_at IS NOT NULL FROM job_steps WHERE job_id = $1`, j.ID).Scan(&enqueued))
	require.True(t, enqueued)
}
