package storage

import (
	"bytes"
	"io"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/redub/redub/shared/apperr"
)

func TestCopyOnlyTheBytesThatWereExamined(t *testing.T) {
	t.Parallel()
	b := setup(t, Options{})
	ctx := t.Context()
	verified := randomBytes(t, 4000)
	require.NoError(t, b.store.Put(ctx, "uploads/u/a/source.mp4", "video/mp4", bytes.NewReader(verified), int64(len(verified))))
	obj, err := b.store.Head(ctx, "uploads/u/a/source.mp4")
	require.NoError(t, err)

	require.NoError(t, b.store.Copy(ctx, obj.Key, "uploads/u/a/verified.mp4", obj.Size, obj.ETag))
	read := func(key string) []byte {
		body, _, err := b.store.Get(ctx, key)
		require.NoError(t, err)
		defer body.Close()
		got, err := io.ReadAll(body)
		require.NoError(t, err)
		return got
	}
	require.Equal(t, verified, read("uploads/u/a/verified.mp4"))

	// The owner replaces the bytes: a copy made for the examined ETag refuses.
	swapped := randomBytes(t, 4000)
	require.NoError(t, b.store.Put(ctx, "uploads/u/a/source.mp4", "video/mp4", bytes.NewReader(swapped), int64(len(swapped))))
	err = b.store.Copy(ctx, obj.Key, "uploads/u/a/other.mp4", obj.Size, obj.ETag)
	require.ErrorIs(t, err, ErrChanged)
	_, err = b.store.Head(ctx, "uploads/u/a/other.mp4")
	require.Equal(t, apperr.NotFound, apperr.CodeOf(err), "nothing was written")
	require.Equal(t, verified, read("uploads/u/a/verified.mp4"))

	err = b.store.Copy(ctx, "uploads/u/a/missing.mp4", "uploads/u/a/x.mp4", 10, "")
	require.Equal(t, apperr.NotFound, apperr.CodeOf(err))
}
