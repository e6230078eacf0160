package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/redub/redub/local/pgstack"
)

const dbUsage = "redub db start [--dir D] [--pg-port N] [--pooler-port N] | redub db stop [--dir D] | redub db run [--dir D] -- cmd args..."

// Default state directories: a long-lived one for the local stack and a
// separate one for test runs, so `make test` never stops the stack a developer
// is using.
const (
	devDBDir  = ".dev/postgres"
	testDBDir = ".dev/test-postgres"
)

// runDB starts, stops or wraps a command with a throwaway Postgres behind
// PgBouncer in transaction mode (see local/pgstack).
func runDB(ctx context.Context, args []string, env *environ) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: %s", errUsage, dbUsage)
	}
	switch args[0] {
	case "start":
		return dbStart(ctx, args[1:], env)
	case "stop":
		return dbStop(ctx, args[1:], env)
	case "run":
		return dbRun(ctx, args[1:], env)
	}
	return fmt.Errorf("%w: unknown db command %q: %s", errUsage, args[0], dbUsage)
}

// dbStart starts a stack that outlives the command and prints shell exports
// for its URLs, so `eval "$(redub db start)"` sets them. A stack that is
// already running in the directory is reused.
func dbStart(ctx context.Context, args []string, env *environ) error {
	fs := flag.NewFlagSet("db start", flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	dir := fs.String("dir", devDBDir, "state directory (data is kept there)")
	pgPort := fs.Int("pg-port", 0, "Postgres port (0: a free one)")
	poolerPort := fs.Int("pooler-port", 0, "PgBouncer port (0: a free one)")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("%w: %s", errUsage, dbUsage)
	}
	if s, err := pgstack.Running(*dir); err == nil && s.Alive() && pingQuickly(ctx, s) == nil {
		fmt.Fprintf(env.stderr, "db start: already running in %s\n", *dir)
		printExports(env.stdout, s)
		return nil
	}
	// Start also stops whatever is left of a half-dead stack in dir.
	s, err := pgstack.Start(ctx, pgstack.Options{
		Dir:          *dir,
		PostgresPort: *pgPort,
		BouncerPort:  *poolerPort,
		Log:          env.stderr,
		Detach:       true,
	})
	if err != nil {
		return fmt.Errorf("db start: %w", err)
	}
	printExports(env.stdout, s)
	fmt.Fprintf(env.stderr, "db start: running in the background; stop it with: redub db stop --dir %s\n", *dir)
	return nil
}

// pingQuickly checks a stack found running. With Postgres gone, PgBouncer
// would hold the query for query_wait_timeout (two minutes).
func pingQuickly(ctx context.Context, s *pgstack.Stack) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	return s.Ping(ctx)
}

func printExports(w io.Writer, s *pgstack.Stack) {
	// The URLs hold '?' and '&', so quote them for eval.
	fmt.Fprintf(w, "export DATABASE_URL='%s'\n", s.PooledURL)
	fmt.Fprintf(w, "export DATABASE_URL_UNPOOLED='%s'\n", s.DirectURL)
}

// dbStop stops the stack running in a directory, keeping its data.
func dbStop(ctx context.Context, args []string, env *environ) error {
	fs := flag.NewFlagSet("db stop", flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	dir := fs.String("dir", devDBDir, "state directory")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("%w: %s", errUsage, dbUsage)
	}
	s, err := pgstack.Running(*dir)
	if errors.Is(err, pgstack.ErrNotRunning) {
		fmt.Fprintf(env.stderr, "db stop: nothing is running in %s\n", *dir)
		return nil
	}
	if err != nil {
		return fmt.Errorf("db stop: %w", err)
	}
	if err := s.Stop(ctx); err != nil {
		return fmt.Errorf("db stop: %w", err)
	}
	fmt.Fprintf(env.stderr, "db stop: stopped; data kept in %s\n", s.DataDir)
	return nil
}

// dbRun runs a command with DATABASE_URL (pooled) and DATABASE_URL_UNPOOLED
// (direct) pointing at a stack it starts and stops around it. When
// DATABASE_URL is already set it runs the command as it is, so CI can bring its
// own database. A failing command's exit code becomes redub's.
func dbRun(ctx context.Context, args []string, env *environ) (err error) {
	fs := flag.NewFlagSet("db run", flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	dir := fs.String("dir", testDBDir, "state directory (data is kept there between runs)")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	argv := fs.Args() // flag consumes the "--"
	if len(argv) == 0 {
		return fmt.Errorf("%w: %s", errUsage, dbUsage)
	}
	if env.getenv("DATABASE_URL") != "" {
		return runChild(ctx, argv, nil, env)
	}

	s, err := pgstack.Start(ctx, pgstack.Options{Dir: *dir, Log: env.stderr})
	if errors.Is(err, pgstack.ErrBusy) {
		return fmt.Errorf("db run: %w (another `redub db run` or `db start` owns it; pass another --dir)", err)
	}
	if err != nil {
		return fmt.Errorf("db run: %w", err)
	}
	defer func() {
		// ctx is cancelled after Ctrl-C, and the stack must still go down.
		stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		stopErr := s.Stop(stopCtx)
		switch {
		case stopErr == nil:
		case err == nil:
			err = fmt.Errorf("db run: %w", stopErr)
		default:
			fmt.Fprintf(env.stderr, "redub: db run: %v\n", stopErr)
		}
	}()
	return runChild(ctx, argv, []string{"DATABASE_URL=" + s.PooledURL, "DATABASE_URL_UNPOOLED=" + s.DirectURL}, env)
}

// runChild runs argv with our environment plus extraEnv and our streams. A
// Ctrl-C reaches the child straight from the terminal; a SIGTERM sent to redub
// alone cancels ctx, and is passed on.
func runChild(ctx context.Context, argv, extraEnv []string, env *environ) error {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), extraEnv...)
	cmd.Stdin = os.Stdin
	cmd.Stdout, cmd.Stderr = env.stdout, env.stderr
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return exitError{code: 128 + int(ws.Signal())}
		}
		return exitError{code: ee.ExitCode()}
	}
	if err != nil {
		return fmt.Errorf("db run %s: %w", argv[0], err)
	}
	return nil
}
