package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/redub/redub/shared/postgres"
	"github.com/redub/redub/shared/postgres/pgtest"
)

func TestWithTxCommitsAndRollsBack(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	ctx := t.Context()
	insert := func(tx pgx.Tx, email string) error {
		_, err := tx.Exec(ctx, `INSERT INTO users (id, email) VALUES (gen_random_uuid(), $1)`, email)
		return err
	}
	require.NoError(t, db.WithTx(ctx, func(tx pgx.Tx) error { return insert(tx, "a@example.com") }))

	boom := errors.New("boom")
	err := db.WithTx(ctx, func(tx pgx.Tx) error {
		require.NoError(t, insert(tx, "b@example.com"))
		return boom
	})
	require.ErrorIs(t, err, boom)

	require.Panics(t, func() {
		_ = db.WithTx(ctx, func(tx pgx.Tx) error {
			require.NoError(t, insert(tx, "c@example.com"))
			panic("mid-transaction")
		})
	})

	var emails []string
	rows, err := db.Query(ctx, `SELECT email FROM users ORDER BY email`)
	require.NoError(t, err)
	emails, err = pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	require.Equal(t, []string{"a@example.com"}, emails, "only the committed transaction is visible")
}

// Many small pools share few server connections through PgBouncer in
// transaction mode, as Lambda environments share Neon's pooler. The default
// exec mode must not depend on session state (named prepared statements).
func TestDefaultExecModeWorksThroughTransactionPooler(t *testing.T) {
	t.Parallel()
	u := pgtest.NewDatabase(t)
	var wg sync.WaitGroup
	errs := make(chan error, 1000)
	for p := range 6 {
		db, err := postgres.New(postgres.Options{URL: u.Pooled})
		require.NoError(t, err)
		t.Cleanup(db.Close)
		for g := range 3 {
			wg.Go(func() {
				for i := range 60 {
					var s string
					var n int
					err := db.QueryRow(t.Context(), `SELECT $1::text, $2::int + 1`, fmt.Sprintf("p%d-g%d", p, g), i).Scan(&s, &n)
					if err == nil && n != i+1 {
						err = fmt.Errorf("got %d, want %d", n, i+1)
					}
					if err != nil {
						errs <- err
						return
					}
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestAcquireHasADeadline(t *testing.T) {
	t.Parallel()
	u := pgtest.NewDatabase(t)
	db, err := postgres.New(postgres.Options{URL: u.Pooled, MaxConns: 1, AcquireTimeout: 150 * time.Millisecond})
	require.NoError(t, err)
	defer db.Close()
	held, err := db.Acquire(t.Context())
	require.NoError(t, err)
	start := time.Now()
	_, err = db.Exec(t.Context(), `SELECT 1`)
	require.ErrorIs(t, err, postgres.ErrAcquire)
	require.Less(t, time.Since(start), 3*time.Second)
	held.Release()
	_, err = db.Exec(t.Context(), `SELECT 1`)
	require.NoError(t, err)
}

func TestRowsAndRowReleaseTheirConnection(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	one, err := postgres.New(postgres.Options{URL: db.Pool().Config().ConnString(), MaxConns: 1, AcquireTimeout: time.Second})
	require.NoError(t, err)
	defer one.Close()
	for range 5 {
		rows, err := one.Query(t.Context(), `SELECT generate_series(1, 3)`)
		require.NoError(t, err)
		n, err := pgx.CollectRows(rows, pgx.RowTo[int32])
		require.NoError(t, err)
		require.Len(t, n, 3)
		var v int
		require.NoError(t, one.QueryRow(t.Context(), `SELECT 7`).Scan(&v))
		require.Equal(t, 7, v)
		// An early Close, without reading every row, releases too.
		rows, err = one.Query(t.Context(), `SELECT generate_series(1, 3)`)
		require.NoError(t, err)
		rows.Close()
	}
}

func TestErrorsNameTheCauseWithoutThePassword(t *testing.T) {
	t.Parallel()
	_, err := postgres.New(postgres.Options{URL: "postgres://u:hunter2@host:notaport/db"})
	require.Error(t, err)
	require.NotContains(t, err.Error(), "hunter2")
	require.Contains(t, err.Error(), "DATABASE_URL")

	_, err = postgres.New(postgres.Options{URL: "postgres://u@h/db", ExecMode: "turbo"})
	require.ErrorContains(t, err, "DATABASE_EXEC_MODE")

	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	db, err := postgres.New(postgres.Options{URL: "postgres://u:hunter2@" + addr + "/db?sslmode=disable", AcquireTimeout: time.Second})
	require.NoError(t, err)
	defer db.Close()
	err = db.Ping(context.Background())
	require.ErrorIs(t, err, postgres.ErrAcquire)
	require.Contains(t, err.Error(), "connect")
	require.NotContains(t, err.Error(), "hunter2")
}
