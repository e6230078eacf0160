package ledger_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/redub/redub/shared/apperr"
	"github.com/redub/redub/shared/ledger"
	"github.com/redub/redub/shared/storage"
)

// blobs is an object store whose puts can be made to fail, as S3 can just
// after a provider charged.
type blobs struct {
	mu      sync.Mutex
	objects map[string][]byte
	failing int // puts left to fail
}

func (b *blobs) Put(_ context.Context, key, _ string, body io.Reader, _ int64) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.failing > 0 {
		b.failing--
		return errors.New("s3: 503 slow down")
	}
	data, err := io.ReadAll(body)
	if err != nil {
		return err
	}
	b.objects[key] = data
	return nil
}

func (b *blobs) Head(_ context.Context, key string) (storage.Object, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	data, ok := b.objects[key]
	if !ok {
		return storage.Object{}, apperr.New(apperr.NotFound, "object not found")
	}
	return storage.Object{Key: key, Size: int64(len(data))}, nil
}

// A storage failure after the provider charged is not a second charge while
// the result is kept; a result whose object is gone is paid again once.
func TestAPaidResultIsRecordedBeforeItIsStored(t *testing.T) {
	t.Parallel()
	b := setup(t)
	store := &blobs{objects: map[string][]byte{}, failing: 3}
	l := ledger.NewWithOptions(b.db, ledger.Options{Blobs: store})
	key := "jobs/" + b.jobID.String() + "/synthesize/seg-0000.mp3"
	call := ledger.Call{Provider: "elevenlabs", Operation: "tts", JobID: b.jobID, Step: "synthesize",
		Request: map[string]any{"voice": "v1", "text": "Hello there."}}
	paid := 0
	fn := func(context.Context) (ledger.Outcome, error) {
		paid++
		return ledger.Outcome{ResultKey: key, Body: []byte("mp3 bytes"), ContentType: "audio/mpeg", Usage: json.RawMessage(`{"characters": 12}`)}, nil
	}

	_, err := l.Do(t.Context(), call, fn)
	require.ErrorContains(t, err, "store the paid result", "S3 refused every try")
	recs, err := l.Calls(t.Context(), b.jobID)
	require.NoError(t, err)
	require.Len(t, recs, 1)
	require.Equal(t, ledger.Succeeded, recs[0].Status, "the charge is on record though its result could not be stored")

	// The next attempt finds the object missing and pays once more, cleanly.
	out, err := l.Do(t.Context(), call, fn)
	require.NoError(t, err)
	require.False(t, out.Reused)
	require.Equal(t, 2, paid)
	require.Equal(t, []byte("mp3 bytes"), store.objects[key])

	out, err = l.Do(t.Context(), call, fn)
	require.NoError(t, err)
	require.True(t, out.Reused)
	require.Equal(t, key, out.ResultKey)
	require.Equal(t, 2, paid, "stored now: reused, not paid")

	// Its object deleted (its asset was), the result is paid again, once.
	delete(store.objects, key)
	out, err = l.Do(t.Context(), call, fn)
	require.NoError(t, err)
	require.False(t, out.Reused)
	require.Equal(t, 3, paid)
}

func TestNoUserReusesAnothersResult(t *testing.T) {
	t.Parallel()
	b := setup(t)
	l := ledger.New(b.db)
	p := &provider{}
	mine, theirs := transcribeCall(b.jobID, "same-audio"), transcribeCall(newJob(t, b.db), "same-audio")
	mine.UserID, theirs.UserID = uuid.New(), uuid.New()
	h1, err := ledger.Hash(mine)
	require.NoError(t, err)
	h2, err := ledger.Hash(theirs)
	require.NoError(t, err)
	require.False(t, bytes.Equal(h1, h2))

	_, err = l.Do(t.Context(), mine, p.fn)
	require.NoError(t, err)
	out, err := l.Do(t.Context(), theirs, p.fn)
	require.NoError(t, err)
	require.False(t, out.Reused)
	require.EqualValues(t, 2, p.calls.Load(), "the same request from another user is that user's own call")
}
