package job_test

import (
	"context"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/redub/redub/shared/apperr"
	"github.com/redub/redub/shared/job"
)

// A finished voiceover job takes edits from its owner only, re-renders once
// per Idempotency-Key as the next revision (synthesize queued with a new
// dispatch, mix pending, the job running), and refuses edits while it runs.
func TestEditAndRerenderState(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	j, _, err := b.store.Create(ctx, job.NewJob{UserID: b.user, AssetID: b.asset, Recipe: job.Voiceover, IdempotencyKey: "k"})
	require.NoError(t, err)
	text := func(s string) *string { return &s }

	_, err = b.store.SaveEdit(ctx, b.user, j.ID, job.Edit{Segment: 0, Text: text("Hi.")}, nil)
	require.Equal(t, apperr.Conflict, apperr.CodeOf(err), "a queued job is not edited")

	_, err = b.db.Exec(ctx, `UPDATE job_steps SET status = 'succeeded', dispatch = 2 WHERE job_id = $1`, j.ID)
	require.NoError(t, err)
	_, err = b.db.Exec(ctx, `UPDATE jobs SET status = 'succeeded' WHERE id = $1`, j.ID)
	require.NoError(t, err)

	_, _, _, err = b.store.Rerender(ctx, b.user, j.ID, "r1")
	require.Equal(t, apperr.Conflict, apperr.CodeOf(err), "nothing edited yet")
	_, err = b.store.SaveEdit(ctx, newUser(t, b.db), j.ID, job.Edit{Segment: 0, Text: text("Hi.")}, nil)
	require.Equal(t, apperr.NotFound, apperr.CodeOf(err), "another user's job")
	_, err = b.store.SaveEdit(ctx, b.user, j.ID, job.Edit{Segment: 0, Text: text("Hi.")}, func(job.Edit) error { return apperr.InvalidField("start", "no") })
	require.Equal(t, apperr.Invalid, apperr.CodeOf(err))
	edits, err := b.store.Edits(ctx, j.ID)
	require.NoError(t, err)
	require.Empty(t, edits, "a refused edit is rolled back")

	voice := "AZnzlk1XvdvUeBnXmlld"
	_, err = b.store.SaveEdit(ctx, b.user, j.ID, job.Edit{Segment: 2, Text: text("Hi.")}, nil)
	require.NoError(t, err)
	e, err := b.store.SaveEdit(ctx, b.user, j.ID, job.Edit{Segment: 2, Voice: &voice}, nil)
	require.NoError(t, err)
	require.Equal(t, "Hi.", *e.Text, "fields merge")
	require.Equal(t, voice, *e.Voice)

	got, d, created, err := b.store.Rerender(ctx, b.user, j.ID, "r1")
	require.NoError(t, err)
	require.True(t, created)
	require.Equal(t, 2, got.Revision)
	require.Equal(t, job.Running, got.Status)
	require.Equal(t, job.Dispatch{JobID: j.ID, Step: job.StepSynthesize, Attempt: 3, TraceID: j.TraceID}, *d)
	status := map[string]job.Status{}
	for _, s := range got.Steps {
		status[s.Name] = s.Status
	}
	require.Equal(t, map[string]job.Status{"transcode": job.Succeeded, "transcribe": job.Succeeded, "synthesize": job.Queued, "mix": job.Pending}, status)

	again, d, created, err := b.store.Rerender(ctx, b.user, j.ID, "r1")
	require.NoError(t, err)
	require.False(t, created, "the same key starts nothing")
	require.Nil(t, d)
	require.Equal(t, 2, again.Revision)
	_, _, _, err = b.store.Rerender(ctx, b.user, j.ID, "r2")
	require.Equal(t, apperr.Conflict, apperr.CodeOf(err), "a running job is not re-rendered")
	_, _, _, err = b.store.Rerender(ctx, b.user, uuid.New(), "r3")
	require.Equal(t, apperr.NotFound, apperr.CodeOf(err))
}
