package migrations_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/redub/redub/migrations"
	"github.com/redub/redub/shared/postgres"
	"github.com/redub/redub/shared/postgres/pgtest"
)

func TestCheckPassesWithCommittedSnapshot(t *testing.T) {
	t.Parallel()
	snap, err := os.ReadFile("schema.sql")
	require.NoError(t, err)
	got, err := migrations.Check(t.Context(), pgtest.AdminURL(t), string(snap))
	require.NoError(t, err)
	for _, table := range []string{"users", "sessions", "assets", "jobs", "job_steps", "outputs", "rate_limits", "provider_calls"} {
		require.Contains(t, got, "CREATE TABLE "+table+" (")
	}
	require.NotContains(t, got, "goose_db_version")
}

func TestCheckFailsOnStaleSnapshot(t *testing.T) {
	t.Parallel()
	snap, err := os.ReadFile("schema.sql")
	require.NoError(t, err)
	stale := strings.Replace(string(snap), "    reject_reason text,\n", "", 1)
	require.NotEqual(t, string(snap), stale)
	_, err = migrations.Check(t.Context(), pgtest.AdminURL(t), stale)
	require.ErrorIs(t, err, migrations.ErrStaleSnapshot)
	require.Contains(t, err.Error(), "+     reject_reason text", "the diff shows what the migrations add")
}

func TestDownThenUpOnTestDatabase(t *testing.T) {
	t.Parallel()
	u := pgtest.NewDatabase(t)
	db, err := postgres.OpenSQL(u.Direct)
	require.NoError(t, err)
	defer db.Close()
	ctx := context.Background()
	latest, err := migrations.Latest()
	require.NoError(t, err)

	before, err := migrations.Schema(ctx, db)
	require.NoError(t, err)
	down, err := migrations.DownTo(ctx, db, 0)
	require.NoError(t, err)
	require.Contains(t, down, latest)
	var n int
	require.NoError(t, db.QueryRow(`SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'goose_db_version'`).Scan(&n))
	require.Zero(t, n)
	up, err := migrations.Up(ctx, db)
	require.NoError(t, err)
	require.Contains(t, up, latest)
	after, err := migrations.Schema(ctx, db)
	require.NoError(t, err)
	require.Equal(t, before, after)
	st, err := migrations.Status(ctx, db)
	require.NoError(t, err)
	require.Len(t, st, len(up))
	require.Contains(t, st[0], "applied")
}
