package migrations_test

import (
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/redub/redub/shared/postgres/pgtest"
)

// The previews' seed branch is the migrations plus seed/preview.sql
// (scripts/preview-seed.sh). Its people are made up and none can be signed
// in by Google only, and a refresh may run it again.
func TestPreviewSeed(t *testing.T) {
	t.Parallel()
	seed, err := os.ReadFile("seed/preview.sql")
	require.NoError(t, err)
	db := pgtest.NewDatabase(t) // migrated
	conn, err := pgx.Connect(t.Context(), db.Direct)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close(t.Context()) })

	for range 2 {
		_, err = conn.Exec(t.Context(), string(seed))
		require.NoError(t, err, "the seed applies to the migrated schema, again and again")
	}
	var people, google, real int
	require.NoError(t, conn.QueryRow(t.Context(), `SELECT count(*), count(google_sub), count(*) FILTER (WHERE email NOT LIKE '%.invalid') FROM users`).
		Scan(&people, &google, &real))
	require.Equal(t, 3, people, "a second run added nobody")
	require.Zero(t, google, "no seeded person has a Google identity")
	require.Zero(t, real, "every address is at a reserved .invalid domain")
}
