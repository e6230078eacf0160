package obs_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/redub/redub/shared/obs"
)

// lines decodes each JSON line written to buf.
func lines(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	dec := json.NewDecoder(buf)
	for dec.More() {
		var m map[string]any
		require.NoError(t, dec.Decode(&m))
		out = append(out, m)
	}
	return out
}

func TestWithFields(t *testing.T) {
	t.Parallel()

	parent := obs.With(context.Background(), obs.RequestID, "req-1")
	child := obs.With(parent, obs.JobID, "job-1")
	child = obs.With(child, obs.RequestID, "req-2")

	require.Equal(t, map[string]string{obs.RequestID: "req-1"}, obs.Fields(parent), "parent must not see the child's ids")
	require.Equal(t, map[string]string{obs.RequestID: "req-2", obs.JobID: "job-1"}, obs.Fields(child))

	removed := obs.With(child, obs.JobID, "")
	require.Equal(t, map[string]string{obs.RequestID: "req-2"}, obs.Fields(removed))

	fields := obs.Fields(child)
	fields[obs.Step] = "mutated"
	require.NotContains(t, obs.Fields(child), obs.Step, "Fields must return a copy")

	require.Empty(t, obs.Fields(context.Background()))
	require.NotNil(t, obs.Fields(context.Background()))
}

func TestLoggerAddsContextIDs(t *testing.T) {
	t.Parallel()

	var buf bytes.Buffer
	logger := obs.NewLogger(&buf, slog.LevelInfo)
	ctx := obs.With(context.Background(), obs.RequestID, "req-1")
	ctx = obs.With(ctx, obs.JobID, "job-1")

	logger.InfoContext(ctx, "job started", "attempt", 2)
	logger.With("function", "worker").WithGroup("upload").InfoContext(ctx, "part done", "part", 3)
	logger.Info("no context")

	got := lines(t, &buf)
	require.Len(t, got, 3)

	require.Equal(t, "job started", got[0]["msg"])
	require.Equal(t, "INFO", got[0]["level"])
	require.Equal(t, "req-1", got[0][obs.RequestID])
	require.Equal(t, "job-1", got[0][obs.JobID])
	require.EqualValues(t, 2, got[0]["attempt"])

	// Under a group the ids stay top-level; the record's own attrs do not.
	require.Equal(t, "req-1", got[1][obs.RequestID])
	require.Equal(t, "job-1", got[1][obs.JobID])
	require.Equal(t, "worker", got[1]["function"])
	require.Equal(t, map[string]any{"part": float64(3)}, got[1]["upload"])

	require.NotContains(t, got[2], obs.RequestID)
}

func TestLoggerLevel(t *testing.T) {
	t.Parallel()

	var buf bytes.Buffer
	var level slog.LevelVar
	level.Set(slog.LevelWarn)
	logger := obs.NewLogger(&buf, &level)
	ctx := obs.With(context.Background(), obs.RequestID, "req-1")

	logger.DebugContext(ctx, "debug")
	logger.InfoContext(ctx, "info")
	logger.WarnContext(ctx, "warn")
	logger.ErrorContext(ctx, "error")
	level.Set(slog.LevelDebug)
	logger.DebugContext(ctx, "debug again")

	var msgs []any
	for _, l := range lines(t, &buf) {
		msgs = append(msgs, l["msg"])
	}
	require.Equal(t, []any{"warn", "error", "debug again"}, msgs)
}

func TestParseLevel(t *testing.T) {
	t.Parallel()

	for in, want := range map[string]slog.Level{
		"":      slog.LevelInfo,
		"debug": slog.LevelDebug,
		"INFO":  slog.LevelInfo,
		"Warn":  slog.LevelWarn,
		"error": slog.LevelError,
	} {
		got, err := obs.ParseLevel(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}

	for _, bad := range []string{"verbose", "warning", " info"} {
		_, err := obs.ParseLevel(bad)
		require.ErrorContains(t, err, `"`+bad+`"`)
	}
}
