package pgstack

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
)

// startStack starts a stack in dir, skipping the test when the servers are
// not installed, and stops and removes it when the test ends.
func startStack(t *testing.T, dir string) *Stack {
	t.Helper()
	s, err := Start(t.Context(), Options{Dir: dir, Log: testLog{t}})
	var missing *MissingError
	if errors.As(err, &missing) {
		t.Skip(err)
	}
	require.NoError(t, err)
	t.Cleanup(func() {
		require.NoError(t, s.Stop(context.Background()))
		require.NoError(t, Remove(dir))
	})
	return s
}

type testLog struct{ t *testing.T }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// connect opens a connection in a mode that works through PgBouncer's
// transaction pooling (no named prepared statements).
func connect(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	cfg, err := pgx.ParseConfig(url)
	require.NoError(t, err)
	cfg.DefaultQueryExecMode = pgx.QueryExecModeExec
	conn, err := pgx.ConnectConfig(t.Context(), cfg)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// withDatabase returns url pointing at another database.
func withDatabase(url, name string) string {
	return strings.Replace(url, "/"+roleName+"?", "/"+name+"?", 1)
}

func TestStack(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dir := t.TempDir()
	s := startStack(t, dir)

	direct := connect(t, s.DirectURL)
	_, err := direct.Exec(ctx, "CREATE TABLE kept (n int); INSERT INTO kept VALUES (42)")
	require.NoError(t, err)

	t.Run("pooled url reaches redub", func(t *testing.T) {
		var db, user string
		require.NoError(t, connect(t, s.PooledURL).QueryRow(ctx, "SELECT current_database(), current_user").Scan(&db, &user))
		require.Equal(t, "redub", db)
		require.Equal(t, "redub", user)
	})

	t.Run("pgbouncer runs in transaction mode", func(t *testing.T) {
		// The admin console speaks only the simple protocol.
		cfg, err := pgx.ParseConfig(withDatabase(s.PooledURL, "pgbouncer"))
		require.NoError(t, err)
		cfg.DefaultQueryExecMode = pgx.QueryExecModeSimpleProtocol
		admin, err := pgx.ConnectConfig(ctx, cfg)
		require.NoError(t, err)
		defer admin.Close(ctx)
		rows, err := admin.Query(ctx, "SHOW CONFIG")
		require.NoError(t, err)
		config := map[string]string{}
		for rows.Next() {
			vals, err := rows.Values()
			require.NoError(t, err)
			config[fmt.Sprint(vals[0])] = fmt.Sprint(vals[1])
		}
		require.NoError(t, rows.Err())
		require.Equal(t, "transaction", config["pool_mode"])
		require.Equal(t, "any", config["auth_type"])
		require.Equal(t, "5", config["default_pool_size"])
	})

	t.Run("clients share server connections between transactions", func(t *testing.T) {
		// Only in transaction mode does a second client get the server
		// connection the first one just used while the first stays connected;
		// session mode would give each client its own backend.
		_, err := direct.Exec(ctx, "CREATE DATABASE sharing")
		require.NoError(t, err)
		url := withDatabase(s.PooledURL, "sharing")
		a, b := connect(t, url), connect(t, url)
		var pidA, pidB int
		require.NoError(t, a.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&pidA))
		require.NoError(t, b.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&pidB))
		require.Equal(t, pidA, pidB)

		// A session-level SET therefore leaks to whichever client runs next.
		_, err = a.Exec(ctx, "SET application_name = 'set-by-a'")
		require.NoError(t, err)
		var name string
		require.NoError(t, b.QueryRow(ctx, "SELECT current_setting('application_name')").Scan(&name))
		require.Equal(t, "set-by-a", name)
	})

	t.Run("a database created directly is reachable through the pooler and can be force-dropped", func(t *testing.T) {
		_, err := direct.Exec(ctx, "CREATE DATABASE made_by_test")
		require.NoError(t, err)
		var db string
		pooled := connect(t, withDatabase(s.PooledURL, "made_by_test"))
		require.NoError(t, pooled.QueryRow(ctx, "SELECT current_database()").Scan(&db))
		require.Equal(t, "made_by_test", db)
		// PgBouncer still holds an idle server connection to it.
		_, err = direct.Exec(ctx, "DROP DATABASE made_by_test WITH (FORCE)")
		require.NoError(t, err)
	})

	t.Run("stop frees the ports and leaves no process", func(t *testing.T) {
		direct.Close(ctx)
		pgPort, bouncerPort := s.PostgresPort, s.BouncerPort
		require.NoError(t, s.Stop(ctx))
		require.NoError(t, s.Stop(ctx), "second Stop")
		require.False(t, s.Alive())
		for _, port := range []int{pgPort, bouncerPort} {
			ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
			require.NoError(t, err, "port %d", port)
			ln.Close()
		}
		require.Empty(t, pidsIn(s.layout.runDir))
		require.Empty(t, pidsIn(s.layout.dataDir))
		_, err := Running(dir)
		require.ErrorIs(t, err, ErrNotRunning)
	})

	t.Run("a second start keeps the data", func(t *testing.T) {
		began := time.Now()
		again, err := Start(ctx, Options{Dir: dir, Log: testLog{t}})
		require.NoError(t, err)
		t.Logf("restart took %v", time.Since(began))
		defer func() { require.NoError(t, again.Stop(context.Background())) }()
		var n int
		require.NoError(t, connect(t, again.PooledURL).QueryRow(ctx, "SELECT n FROM kept").Scan(&n))
		require.Equal(t, 42, n)
	})
}

func TestStartRecovers(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dir := t.TempDir()
	first := startStack(t, dir)

	_, err := Start(ctx, Options{Dir: dir})
	require.ErrorIs(t, err, ErrBusy, "a stack whose owner is alive is not taken over")
	require.NoError(t, first.Ping(ctx), "the failed Start left the stack alone")

	t.Run("servers of a dead owner are stopped", func(t *testing.T) {
		// Dropping the lock is what the kernel does when the owner dies.
		unlockDir(first.lock)
		first.lock = nil
		second, err := Start(ctx, Options{Dir: dir})
		require.NoError(t, err)
		require.True(t, first.postgres.wait(ctx, 5*time.Second), "old postgres still running")
		require.False(t, first.bouncer.alive(), "old pgbouncer still running")
		require.NoError(t, second.Ping(ctx))

		found, err := Running(dir)
		require.NoError(t, err)
		require.Equal(t, second.PooledURL, found.PooledURL)
		require.True(t, found.Alive())
		require.NoError(t, found.Stop(ctx), "another process stops the stack through Running")
		require.True(t, second.postgres.wait(ctx, 5*time.Second), "postgres still running")
		require.False(t, second.Alive())
		require.NoError(t, second.Stop(ctx))
	})

	t.Run("stale pid files naming other processes are removed", func(t *testing.T) {
		// A live process that is not ours: Postgres and PgBouncer would both
		// refuse to start over its pid.
		self := []byte(strconv.Itoa(os.Getpid()) + "\n")
		require.NoError(t, os.WriteFile(first.layout.postmasterPid(), self, 0o600))
		require.NoError(t, os.WriteFile(first.layout.bouncerPid(), self, 0o600))
		third, err := Start(ctx, Options{Dir: dir})
		require.NoError(t, err)
		require.NoError(t, third.Ping(ctx))
		require.NoError(t, third.Stop(ctx))
	})
}

func TestStartReportsServerFailure(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dir := t.TempDir()
	// Take the port Postgres is told to use.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port

	_, err = Start(ctx, Options{Dir: dir, PostgresPort: port, Log: testLog{t}})
	var missing *MissingError
	if errors.As(err, &missing) {
		t.Skip(err)
	}
	t.Cleanup(func() { require.NoError(t, Remove(dir)) })
	t.Log(err)
	var se *startError
	require.ErrorAs(t, err, &se)
	require.Contains(t, err.Error(), "Address already in use", "the error carries the server log")

	l, err := newLayout(dir)
	require.NoError(t, err)
	require.Empty(t, pidsIn(l.dataDir), "a failed Start leaves nothing running")
}

func TestBinaries(t *testing.T) {
	t.Parallel()
	pgBin, bouncer, err := Binaries()
	var missing *MissingError
	if errors.As(err, &missing) {
		require.Contains(t, err.Error(), installHint)
		t.Skip(err)
	}
	require.NoError(t, err)
	require.FileExists(t, pgBin+"/postgres")
	require.FileExists(t, bouncer)
}

func TestLayoutKeepsSocketPathsShort(t *testing.T) {
	t.Parallel()
	long := "/tmp/" + strings.Repeat("d", 120)
	l, err := newLayout(long)
	require.NoError(t, err)
	require.LessOrEqual(t, len(l.sockDir+"/.s.PGSQL.65535.lock"), maxSocketPath)
	if os.Geteuid() != 0 {
		require.Equal(t, long, l.runDir, "the data stays in Dir")
	}
}

// TestUnlockReleasesTheLockHeldThroughACopy models the race behind a
// "stack directory is in use" failure on a loaded machine: a child being
// forked by another goroutine holds a copy of the lock's descriptor until it
// execs. The copy here is a dup, which shares the open file as a fork does.
// After unlockDir the directory can be locked again at once.
func TestUnlockReleasesTheLockHeldThroughACopy(t *testing.T) {
	t.Parallel()
	l, err := newLayout(t.TempDir())
	require.NoError(t, err)
	require.NoError(t, l.prepare())
	lock, err := lockDir(l)
	require.NoError(t, err)
	forked, err := syscall.Dup(int(lock.Fd()))
	require.NoError(t, err)
	defer syscall.Close(forked)

	unlockDir(lock)
	again, err := lockDir(l)
	require.NoError(t, err, "the lock is free while the copy is still open")
	unlockDir(again)
}
