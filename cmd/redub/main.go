// Command redub is the project's command line: the local stack, migrations,
// throwaway databases for tests, and (as they land) demo, backup, restore,
// dlq and trace.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"syscall"
)

// command is one subcommand: it gets the arguments after its name.
type command struct {
	summary string
	run     func(ctx context.Context, args []string, env *environ) error
}

// environ is what a subcommand may touch of the process: its environment and streams.
type environ struct {
	getenv func(string) string
	stdout io.Writer
	stderr io.Writer
	http   *http.Client // nil: newHTTPClient(stderr), see client
}

// client is the HTTP client of the commands (newHTTPClient).
func (e *environ) client() *http.Client {
	if e.http == nil {
		e.http = newHTTPClient(e.stderr)
	}
	return e.http
}

// errUsage marks an error that should be followed by the usage text.
var errUsage = errors.New("usage")

func commands() map[string]command {
	return map[string]command{
		"demo":    {"run the voiceover recipe offline through the local stack and check the outputs", runDemo},
		"dev":     {"run the local AWS stack (make dev); dev status | metrics | invoke <fn> --event f.json | fire <schedule>", runDev},
		"db":      {"run a throwaway Postgres + PgBouncer (start|stop|run -- cmd...)", runDB},
		"size":    {"print each built function's zipped size against the budget", runSize},
		"migrate": {"apply or check database migrations (up|down|status|check|snapshot)", runMigrate},
		"dlq":     {"inspect and redrive dead-letter queues (list | show <queue> | redrive <queue> [--reset-jobs])", runDlq},
		"trace":   {"print one job's timeline from the database and logs (trace <job> [--logs file])", runTrace},
		"backup":  {"back the database up to the backups bucket now (what the daily function does)", runBackup},
		"restore": {"restore a backup into an empty database: restore <key|latest> --to <database url>", runRestore},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	env := &environ{getenv: os.Getenv, stdout: os.Stdout, stderr: os.Stderr}
	err := run(ctx, os.Args[1:], env)
	stop()
	if err != nil {
		var ee exitError
		if errors.As(err, &ee) {
			os.Exit(ee.code)
		}
		fmt.Fprintln(os.Stderr, "redub:", err)
		os.Exit(1)
	}
}

// exitError carries a child's exit code through run without printing anything.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

func run(ctx context.Context, args []string, env *environ) error {
	cmds := commands()
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(env.stdout, cmds)
		return nil
	}
	c, ok := cmds[args[0]]
	if !ok {
		usage(env.stderr, cmds)
		return fmt.Errorf("unknown command %q", args[0])
	}
	err := c.run(ctx, args[1:], env)
	if errors.Is(err, errUsage) {
		usage(env.stderr, cmds)
	}
	return err
}

func usage(w io.Writer, cmds map[string]command) {
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintln(w, "usage: redub <command> [arguments]\n\ncommands:")
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, cmds[n].summary)
	}
}
