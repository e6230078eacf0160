package pgstack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// readyTimeout bounds how long Start waits for each server to accept connections.
const readyTimeout = time.Minute

// ErrBusy is returned by Start when another live process started the stack in
// the same directory and has not stopped it.
var ErrBusy = errors.New("stack directory is in use by another process")

// ErrNotRunning is returned by Running when no stack is running in a directory.
var ErrNotRunning = errors.New("no stack is running")

// Options configures Start.
type Options struct {
	Dir          string    // state directory, e.g. "<repo>/.dev/postgres"; data is kept there across starts
	PostgresPort int       // 0 picks a free 127.0.0.1 port
	BouncerPort  int       // 0 picks a free 127.0.0.1 port
	Log          io.Writer // server logs go to files under Dir; progress lines go here (may be nil)

	// Detach keeps the servers running after the calling process exits, for a
	// stack that outlives the command that started it (redub db start). Without
	// it the servers shut down when their parent dies.
	Detach bool
}

// Stack is a running Postgres with PgBouncer in front of it.
type Stack struct {
	PooledURL    string // through PgBouncer in transaction mode, database redub
	DirectURL    string // straight to Postgres as a superuser, database redub
	PostgresPort int
	BouncerPort  int
	DataDir      string // the cluster; outside Options.Dir when running as root

	layout   *layout
	lock     *os.File // flock held while this process owns the stack; nil for Running
	mu       sync.Mutex
	postgres *process
	bouncer  *process
	stopped  bool
}

// Start starts Postgres and PgBouncer with their state in opts.Dir, running
// initdb first if the directory has no cluster yet. It returns once both accept
// connections. Servers left behind in opts.Dir by a process that has died are
// stopped first; if the process that started them is still alive, Start
// returns an error wrapping ErrBusy. Missing programs are reported as a
// *MissingError. On any error nothing is left running.
func Start(ctx context.Context, opts Options) (*Stack, error) {
	began := time.Now()
	l, err := newLayout(opts.Dir)
	if err != nil {
		return nil, err
	}
	version, err := clusterVersion(l.dataDir)
	if err != nil {
		return nil, err
	}
	pgBin, err := postgresBin(version)
	if err != nil {
		return nil, err
	}
	bouncerBin, err := bouncerPath()
	if err != nil {
		return nil, err
	}
	if err := l.prepare(); err != nil {
		return nil, err
	}
	lock, err := lockDir(l)
	if err != nil {
		return nil, err
	}
	s := &Stack{layout: l, lock: lock, DataDir: l.dataDir}
	ok := false
	defer func() {
		if !ok {
			_ = s.Stop(context.WithoutCancel(ctx))
		}
	}()
	logf := func(format string, args ...any) {
		if opts.Log != nil {
			fmt.Fprintf(opts.Log, "pgstack: "+format+"\n", args...)
		}
	}

	if err := l.stopLeftovers(ctx); err != nil {
		return nil, err
	}
	if version == "" {
		t := time.Now()
		if err := initdb(ctx, l, filepath.Join(pgBin, "initdb")); err != nil {
			return nil, err
		}
		logf("initdb %s in %.1fs", l.dataDir, time.Since(t).Seconds())
	}

	t := time.Now()
	if err := s.startPostgres(ctx, filepath.Join(pgBin, "postgres"), opts); err != nil {
		return nil, err
	}
	logf("postgres ready on 127.0.0.1:%d in %.1fs", s.PostgresPort, time.Since(t).Seconds())

	t = time.Now()
	if err := s.startBouncer(ctx, bouncerBin, opts); err != nil {
		return nil, err
	}
	logf("pgbouncer ready on 127.0.0.1:%d in %.1fs (stack up in %.1fs)", s.BouncerPort, time.Since(t).Seconds(), time.Since(began).Seconds())

	err = l.writeState(state{
		PostgresPID:  s.postgres.pid,
		BouncerPID:   s.bouncer.pid,
		PostgresPort: s.PostgresPort,
		BouncerPort:  s.BouncerPort,
		PooledURL:    s.PooledURL,
		DirectURL:    s.DirectURL,
		DataDir:      s.DataDir,
	})
	if err != nil {
		return nil, err
	}
	ok = true
	return s, nil
}

// Stop stops PgBouncer, then Postgres (a fast shutdown: open transactions are
// rolled back), and waits until both have exited. The data stays. Calling Stop
// again does nothing.
func (s *Stack) Stop(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return nil
	}
	s.stopped = true
	// PgBouncer's SIGINT waits for clients to go away; SIGTERM does not.
	errB := s.bouncer.stop(ctx, syscall.SIGTERM, syscall.SIGKILL)
	// Postgres: SIGINT is a fast shutdown, SIGQUIT an immediate one that still
	// takes the backends down with it.
	errP := s.postgres.stop(ctx, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGKILL)
	err := errors.Join(errB, errP)
	if err == nil {
		if rmErr := os.Remove(s.layout.statePath()); rmErr != nil && !errors.Is(rmErr, fs.ErrNotExist) {
			err = fmt.Errorf("remove state file: %w", rmErr)
		}
	}
	if s.lock != nil {
		unlockDir(s.lock)
		s.lock = nil
	}
	return err
}

// BouncerPID is the process id of the stack's PgBouncer (for drills that
// freeze the pooler with SIGSTOP: they signal only this process).
func (s *Stack) BouncerPID() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bouncer.pid
}

// Alive reports whether both servers are still running. It does not check
// that they answer; see Ping.
func (s *Stack) Alive() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return false
	}
	if s.postgres == nil || s.bouncer == nil {
		return false
	}
	if s.postgres.done == nil { // found through Running: check it is still ours
		return s.layout.isPostgres(s.postgres.pid) && s.layout.isBouncer(s.bouncer.pid)
	}
	return s.postgres.alive() && s.bouncer.alive()
}

// Ping checks that a query goes through PgBouncer to Postgres. Give ctx a
// deadline: when Postgres is down PgBouncer holds the query for
// query_wait_timeout (two minutes) before failing it.
func (s *Stack) Ping(ctx context.Context) error {
	return ping(ctx, s.PooledURL)
}

// Running returns the stack recorded in dir's state file if its Postgres or
// its PgBouncer is still alive, so that another process can Stop it. It
// returns an error wrapping ErrNotRunning when neither is.
func Running(dir string) (*Stack, error) {
	l, err := newLayout(dir)
	if err != nil {
		return nil, err
	}
	st, err := l.readState()
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", l.dir, ErrNotRunning)
	}
	if err != nil {
		return nil, err
	}
	s := &Stack{
		PooledURL:    st.PooledURL,
		DirectURL:    st.DirectURL,
		PostgresPort: st.PostgresPort,
		BouncerPort:  st.BouncerPort,
		DataDir:      l.dataDir,
		layout:       l,
	}
	if l.isPostgres(st.PostgresPID) {
		s.postgres = &process{name: "postgres", pid: st.PostgresPID}
	}
	if l.isBouncer(st.BouncerPID) {
		s.bouncer = &process{name: "pgbouncer", pid: st.BouncerPID}
	}
	if s.postgres == nil && s.bouncer == nil {
		return nil, fmt.Errorf("%s: %w", l.dir, ErrNotRunning)
	}
	return s, nil
}

// Remove deletes dir and, when running as root, the directory outside it that
// holds the cluster. It refuses while a stack is running there.
func Remove(dir string) error {
	l, err := newLayout(dir)
	if err != nil {
		return err
	}
	if _, err := Running(dir); err == nil {
		return fmt.Errorf("remove %s: a stack is still running there", l.dir)
	}
	var errs []error
	for _, d := range []string{l.runDir, l.sockDir, l.dir} {
		if err := os.RemoveAll(d); err != nil {
			errs = append(errs, fmt.Errorf("remove %s: %w", d, err))
		}
	}
	return errors.Join(errs...)
}

// lockDir takes an exclusive flock on dir/lock for as long as the returned file
// stays open. The kernel drops it when the process dies, which is how Start
// tells a stack left by a dead process from one that is still in use.
func lockDir(l *layout) (*os.File, error) {
	f, err := os.OpenFile(l.path("lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("start in %s: %w", l.dir, ErrBusy)
		}
		return nil, fmt.Errorf("lock %s: %w", l.dir, err)
	}
	return f, nil
}

// unlockDir releases the flock lockDir took and closes the file. Closing
// alone is not enough: a flock belongs to the open file, and a child that
// any goroutine of this process is forking holds a copy of every descriptor
// until it execs (O_CLOEXEC acts only then). On a loaded machine that window
// is long enough for the next Start in this directory to find the lock still
// held and fail with ErrBusy. LOCK_UN releases it through every copy.
func unlockDir(f *os.File) {
	_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	_ = f.Close()
}

// clusterVersion returns the PostgreSQL major version of the cluster in
// dataDir, or "" when there is no cluster yet.
func clusterVersion(dataDir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dataDir, "PG_VERSION"))
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read cluster version: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// stopLeftovers stops servers that a dead process left running in this
// directory and removes pid files that no longer name one of ours, so neither
// Postgres nor PgBouncer refuses to start.
func (l *layout) stopLeftovers(ctx context.Context) error {
	var errs []error
	pids := []int{readPidFile(l.bouncerPid())}
	st, err := l.readState()
	if err == nil {
		pids = append(pids, st.BouncerPID)
	}
	for _, pid := range pids {
		if l.isBouncer(pid) {
			p := &process{name: "pgbouncer", pid: pid}
			errs = append(errs, p.stop(ctx, syscall.SIGTERM, syscall.SIGKILL))
		}
	}
	pids = []int{readPidFile(l.postmasterPid())}
	if err == nil {
		pids = append(pids, st.PostgresPID)
	}
	for _, pid := range pids {
		if l.isPostgres(pid) {
			p := &process{name: "postgres", pid: pid}
			errs = append(errs, p.stop(ctx, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGKILL))
		}
	}
	// Backends orphaned by a postmaster killed with SIGKILL keep the shared
	// memory attached, and Postgres will not start until they are gone.
	for _, pid := range pidsIn(l.dataDir) {
		if procComm(pid) == "postgres" {
			p := &process{name: "orphaned postgres backend", pid: pid}
			errs = append(errs, p.stop(ctx, syscall.SIGQUIT, syscall.SIGKILL))
		}
	}
	for _, f := range []string{l.bouncerPid(), l.postmasterPid(), l.statePath()} {
		if err := os.Remove(f); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("remove stale %s: %w", f, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("stop servers left in %s: %w", l.dir, err)
	}
	return nil
}

// initdb creates the cluster in a scratch directory and renames it into place,
// so an interrupted initdb never leaves a half-made cluster behind.
func initdb(ctx context.Context, l *layout, bin string) error {
	tmp := l.dataDir + ".tmp"
	if err := os.RemoveAll(tmp); err != nil {
		return fmt.Errorf("initdb: clear %s: %w", tmp, err)
	}
	cmd := exec.CommandContext(ctx, bin, initdbArgs(tmp)...)
	cmd.Dir = l.runDir
	cmd.Env = childEnv()
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: l.owner}
	out, err := cmd.CombinedOutput()
	logPath := l.path("initdb.log")
	_ = os.WriteFile(logPath, out, 0o644)
	if err != nil {
		return &startError{what: "initdb", logPath: logPath, tail: logTail(logPath), err: err}
	}
	if err := l.writeRunFile(filepath.Join(tmp, "pg_hba.conf"), hbaConf); err != nil {
		return fmt.Errorf("initdb: %w", err)
	}
	if err := os.Rename(tmp, l.dataDir); err != nil {
		return fmt.Errorf("initdb: move cluster into place: %w", err)
	}
	return nil
}

// startPostgres starts the server, retrying on another port if a picked one
// was taken in the meantime, waits until it accepts connections and creates
// the redub database if it is missing.
func (s *Stack) startPostgres(ctx context.Context, bin string, opts Options) error {
	l := s.layout
	logPath := l.path("postgres.log")
	for attempt := 1; ; attempt++ {
		port, err := pickPort(ctx, opts.PostgresPort)
		if err != nil {
			return err
		}
		p, err := spawn(spawnSpec{
			name:       "postgres",
			bin:        bin,
			args:       postgresArgs(l, port),
			logPath:    logPath,
			deathSig:   deathSignal(opts, syscall.SIGINT),
			dir:        l.dataDir,
			credential: l.owner,
		})
		if err != nil {
			return err
		}
		s.postgres = p
		direct := dbURL(port, roleName)
		err = waitReady(ctx, p, dbURL(port, "postgres"), logPath, ensureDatabase)
		if err == nil {
			s.PostgresPort, s.DirectURL = port, direct
			return nil
		}
		_ = p.stop(context.WithoutCancel(ctx), syscall.SIGINT, syscall.SIGQUIT, syscall.SIGKILL)
		var se *startError
		if opts.PostgresPort == 0 && attempt < 3 && errors.As(err, &se) && se.addrInUse() {
			continue
		}
		return err
	}
}

// startBouncer writes pgbouncer.ini and starts PgBouncer in the foreground as
// our child, retrying on another port like startPostgres.
func (s *Stack) startBouncer(ctx context.Context, bin string, opts Options) error {
	l := s.layout
	logPath := l.path("pgbouncer.log")
	for attempt := 1; ; attempt++ {
		port, err := pickPort(ctx, opts.BouncerPort)
		if err != nil {
			return err
		}
		if err := l.writeRunFile(l.bouncerIni(), bouncerConf(l, s.PostgresPort, port)); err != nil {
			return err
		}
		p, err := spawn(spawnSpec{
			name:       "pgbouncer",
			bin:        bin,
			args:       []string{l.bouncerIni()},
			logPath:    logPath,
			deathSig:   deathSignal(opts, syscall.SIGTERM),
			dir:        l.runDir,
			credential: l.owner,
		})
		if err != nil {
			return err
		}
		s.bouncer = p
		pooled := dbURL(port, roleName)
		err = waitReady(ctx, p, pooled+"&default_query_exec_mode=simple_protocol", logPath, nil)
		if err == nil {
			s.BouncerPort, s.PooledURL = port, pooled
			return nil
		}
		_ = p.stop(context.WithoutCancel(ctx), syscall.SIGTERM, syscall.SIGKILL)
		var se *startError
		if opts.BouncerPort == 0 && attempt < 3 && errors.As(err, &se) && se.addrInUse() {
			continue
		}
		return err
	}
}

func deathSignal(opts Options, sig syscall.Signal) syscall.Signal {
	if opts.Detach {
		return 0
	}
	return sig
}

func dbURL(port int, database string) string {
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", roleName, port, database)
}

// pickPort returns port, or a free 127.0.0.1 port when it is 0. The port is
// free now; a server may still lose a race for it, which the callers retry.
func pickPort(ctx context.Context, port int) (int, error) {
	if port != 0 {
		return port, nil
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pick a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// waitReady connects to url until it works, p exits or readyTimeout passes,
// then runs then (if any) on the connection.
func waitReady(ctx context.Context, p *process, url, logPath string, then func(context.Context, *pgx.Conn) error) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	fail := func(err error) error {
		return &startError{what: p.name, logPath: logPath, tail: logTail(logPath), err: err}
	}
	// Abandon a connection attempt as soon as the server dies: whatever holds
	// the port may accept the connection and never answer.
	live, cancelLive := context.WithCancel(ctx)
	defer cancelLive()
	go func() {
		select {
		case <-p.done:
			cancelLive()
		case <-live.Done():
		}
	}()
	for {
		attemptCtx, cancelAttempt := context.WithTimeout(live, 2*time.Second)
		conn, err := pgx.Connect(attemptCtx, url)
		cancelAttempt()
		if err == nil {
			defer conn.Close(context.WithoutCancel(ctx))
			if err := conn.Ping(ctx); err != nil {
				return fail(err)
			}
			if then != nil {
				if err := then(ctx, conn); err != nil {
					return fail(err)
				}
			}
			return nil
		}
		select {
		case <-p.done:
			return fail(errors.New("it exited"))
		case <-ctx.Done():
			return fail(fmt.Errorf("not accepting connections: %w (last error: %w)", ctx.Err(), err))
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// ensureDatabase creates the redub database on the first start.
func ensureDatabase(ctx context.Context, conn *pgx.Conn) error {
	var exists bool
	err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", roleName).Scan(&exists)
	if err != nil {
		return fmt.Errorf("look for database %s: %w", roleName, err)
	}
	if exists {
		return nil
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+roleName); err != nil {
		return fmt.Errorf("create database %s: %w", roleName, err)
	}
	return nil
}

func ping(ctx context.Context, url string) error {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return fmt.Errorf("ping: %w", err)
	}
	cfg.DefaultQueryExecMode = pgx.QueryExecModeSimpleProtocol
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("ping: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "SELECT 1"); err != nil {
		return fmt.Errorf("ping: %w", err)
	}
	return nil
}
