package apperr_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/redub/redub/shared/apperr"
)

func TestCodeOf(t *testing.T) {
	t.Parallel()
	nf := apperr.New(apperr.NotFound, "job not found")
	require.Equal(t, apperr.NotFound, apperr.CodeOf(fmt.Errorf("get job: %w", nf)))
	require.Equal(t, apperr.Internal, apperr.CodeOf(errors.New("boom")))
	require.Equal(t, apperr.Internal, apperr.CodeOf(nil))

	cause := errors.New("dial tcp: refused")
	w := apperr.Wrap(apperr.Unavailable, cause, "database unavailable")
	require.ErrorIs(t, w, cause)
	e, ok := apperr.As(fmt.Errorf("outer: %w", w))
	require.True(t, ok)
	require.Equal(t, "database unavailable", e.Message)

	f := apperr.InvalidField("size_bytes", "must be positive")
	require.Equal(t, "size_bytes", f.Field)
	require.Equal(t, apperr.Invalid, f.Code)
}
