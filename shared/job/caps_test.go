package job_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/redub/redub/shared/apperr"
	"github.com/redub/redub/shared/job"
)

func TestLanguagesAreAClosedListInOneCase(t *testing.T) {
	t.Parallel()
	for raw, want := range map[string]string{`{"target_language":"ES"}`: "es", `{"target_language":"pt-br"}`: "pt-BR",
		`{"target_language":"ZH-tw"}`: "zh-TW", `{"target_language":"es","source_language":"EN"}`: "es"} {
		p, err := job.ParseParams(job.Voiceover, json.RawMessage(raw))
		require.NoError(t, err, raw)
		require.Equal(t, want, p.TargetLanguage, raw)
		if p.SourceLanguage != "" {
			require.Equal(t, "en", p.SourceLanguage)
		}
	}
	for _, raw := range []string{`{"target_language":"es-x0001"}`, `{"target_language":"xx"}`, `{"source_language":"en-x-1"}`, `{"target_language":"es-"}`} {
		_, err := job.ParseParams(job.Captions, json.RawMessage(raw))
		e, ok := apperr.As(err)
		require.True(t, ok, raw)
		require.Equal(t, apperr.Invalid, e.Code, raw)
		require.Contains(t, e.Message, "is not a supported language", raw)
		require.Contains(t, e.Message, "pt-BR", "the error lists the supported codes")
	}
	seen := map[string]bool{}
	for _, l := range job.Languages() {
		require.False(t, seen[l.Code], "duplicate %s", l.Code)
		seen[l.Code] = true
		p, err := job.ParseParams(job.Captions, json.RawMessage(`{"target_language":"`+l.Code+`"}`))
		require.NoError(t, err)
		require.Equal(t, l.Code, p.TargetLanguage, "a listed code is its own canonical form")
	}
}

func TestCapsOnActiveJobs(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	other := newAsset(t, b.db, b.user, "ready")
	caps := job.Caps{PerUser: 3, PerAsset: 2}
	create := func(asset any, key string) (job.Job, bool, error) {
		n := job.NewJob{UserID: b.user, AssetID: b.asset, Recipe: job.Transcode, IdempotencyKey: key, RequestHash: []byte(key), RequireReady: true, Caps: caps}
		if asset != nil {
			n.AssetID = other
		}
		return b.store.Create(ctx, n)
	}
	first, _, err := create(nil, "a1")
	require.NoError(t, err)
	_, _, err = create(nil, "a2")
	require.NoError(t, err)
	_, _, err = create(nil, "a3")
	e, ok := apperr.As(err)
	require.True(t, ok, "%v", err)
	require.Equal(t, apperr.Conflict, e.Code)
	require.Contains(t, e.Message, "already has 2 jobs queued or running")

	// The same key again is the same job, not a new one, even at the cap.
	again, created, err := create(nil, "a1")
	require.NoError(t, err)
	require.False(t, created)
	require.Equal(t, first.ID, again.ID)

	_, _, err = create(other, "b1")
	require.NoError(t, err)
	_, _, err = create(other, "b2")
	require.Equal(t, apperr.Conflict, apperr.CodeOf(err))
	require.Contains(t, err.Error(), "you already have 3 jobs queued or running")

	// A job that ended frees its place.
	_, err = b.store.Cancel(ctx, b.user, first.ID)
	require.NoError(t, err)
	_, _, err = create(other, "b3")
	require.NoError(t, err)

	// Ingest's jobs (no caps) are not refused.
	_, _, err = b.store.Create(ctx, job.NewJob{UserID: b.user, AssetID: other, Recipe: job.Transcode})
	require.NoError(t, err)
}

func TestCapIsDecidedAtomically(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	const tries = 8
	var wg sync.WaitGroup
	errs := make([]error, tries)
	for i := range tries {
		asset := newAsset(t, b.db, b.user, "ready")
		wg.Go(func() {
			_, _, errs[i] = b.store.Create(ctx, job.NewJob{UserID: b.user, AssetID: asset, Recipe: job.Transcode,
				IdempotencyKey: fmt.Sprint("k", i), RequestHash: []byte{byte(i)}, RequireReady: true, Caps: job.Caps{PerUser: 2}})
		})
	}
	wg.Wait()
	ok, refused := 0, 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case apperr.CodeOf(err) == apperr.Conflict:
			refused++
		default:
			t.Fatalf("unexpected error: %v", err)
		}
	}
	require.Equal(t, 2, ok, "exactly the cap's worth of concurrent requests pass")
	require.Equal(t, tries-2, refused)
	var active int
	require.NoError(t, b.db.QueryRow(ctx, `SELECT count(*) FROM jobs WHERE user_id = $1 AND status IN ('queued', 'running')`, b.user).Scan(&active))
	require.Equal(t, 2, active)
}

// TestTheContractListsTheLanguages keeps docs/openapi.yaml (and so the web
// client generated from it) in step with the list the API enforces.
func TestTheContractListsTheLanguages(t *testing.T) {
	t.Parallel()
	spec, err := os.ReadFile(filepath.Join("..", "..", "docs", "openapi.yaml"))
	require.NoError(t, err)
	var codes []string
	for _, l := range job.Languages() {
		codes = append(codes, l.Code)
	}
	require.Contains(t, string(spec), "Translate to this language: one of "+strings.Join(codes, ", ")+".")
}
