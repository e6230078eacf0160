package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"text/tabwriter"

	"github.com/google/uuid"

	"github.com/redub/redub/local/pgstack"
	"github.com/redub/redub/shared/config"
	"github.com/redub/redub/shared/cost"
	"github.com/redub/redub/shared/ops/trace"
	"github.com/redub/redub/shared/postgres"
)

const traceUsage = `redub trace <job-id> [--logs file]

Prints the job's timeline from the database: upload request, S3 event
(ingest), job creation, each step's enqueue, start, progress, end with
attempts and errors, provider calls and outputs, with offsets from the first
event, then its cost per step. --logs merges the lines of a log file that carry the job's job_id (or
trace_id): the ` + "`make dev`" + ` output, or CloudWatch JSON lines
(aws logs filter-log-events ... | jq -c '.events[]'); - reads stdin.

The database is DATABASE_URL (else DATABASE_URL_UNPOOLED) from the
environment or .env.local, else the running local stack's.`

// runTrace prints one job's timeline (`redub trace <job>`).
func runTrace(ctx context.Context, args []string, env *environ) error {
	fs := flag.NewFlagSet("trace", flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	logs := fs.String("logs", "", "log file to merge (`make dev` output or CloudWatch JSON lines; - for stdin)")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return fmt.Errorf("%w: %w\n%s", errUsage, err, traceUsage)
	}
	if len(pos) != 1 {
		return fmt.Errorf("%w: %s", errUsage, traceUsage)
	}
	jobID, err := uuid.Parse(pos[0])
	if err != nil {
		return fmt.Errorf("%w: trace: %q is not a job id (a UUID)", errUsage, pos[0])
	}
	db, err := openOpsDB(env)
	if err != nil {
		return fmt.Errorf("trace: %w", err)
	}
	defer db.Close()
	tl, err := trace.Load(ctx, db, jobID)
	if err != nil {
		return fmt.Errorf("trace: %w", err)
	}
	if *logs != "" {
		events, err := readLogFile(*logs, jobID.String(), tl.TraceID)
		if err != nil {
			return fmt.Errorf("trace: %w", err)
		}
		tl.Merge(events)
		fmt.Fprintf(env.stderr, "trace: %d log line(s) of the job in %s\n", len(events), *logs)
	}
	if err := tl.Write(env.stdout); err != nil {
		return err
	}
	return writeStepCosts(ctx, env, db, jobID)
}

// writeStepCosts prints the job's cost step by step at the price table in
// force (PRICES_JSON over the built-in one).
func writeStepCosts(ctx context.Context, env *environ, db *postgres.DB, jobID uuid.UUID) error {
	prices, err := cost.Load(env.getenv("PRICES_JSON"))
	if err != nil {
		return fmt.Errorf("trace: %w", err)
	}
	us, err := cost.NewStore(db).Usages(ctx, jobID)
	if err != nil {
		return fmt.Errorf("trace: %w", err)
	}
	steps, by := cost.ByStep(prices, us)
	total := cost.Estimate(prices, us)
	fmt.Fprintf(env.stdout, "\ncost per step (list prices of %s, USD):\n", prices.AsOf)
	tw := tabwriter.NewWriter(env.stdout, 2, 4, 2, ' ', 0)
	for _, s := range steps {
		b := by[s]
		fmt.Fprintf(tw, "  %s\t$%.6f\t", s, b.TotalUSD)
		for i, it := range b.Items {
			if i > 0 {
				fmt.Fprint(tw, ", ")
			}
			fmt.Fprintf(tw, "%s %s %.4g %s", it.Service, it.What, it.Quantity, it.Unit)
		}
		fmt.Fprintln(tw)
	}
	fmt.Fprintf(tw, "  total\t$%.6f\t%s\n", total.TotalUSD, "(an estimate: see docs/costs.md)")
	return tw.Flush()
}

func readLogFile(path, jobID, traceID string) ([]trace.Event, error) {
	var r io.Reader = os.Stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	return trace.ReadLogs(r, jobID, traceID)
}

// openOpsDB connects an operator command to the database: DATABASE_URL,
// else DATABASE_URL_UNPOOLED (from the environment or .env.local), else the
// Postgres of the local stack running in this repository.
func openOpsDB(env *environ) (*postgres.DB, error) {
	dotenv := ".env.local"
	root, rootErr := findRoot()
	if rootErr == nil {
		dotenv = filepath.Join(root, ".env.local")
	}
	getenv, err := config.WithDotEnv(env.getenv, dotenv)
	if err != nil {
		return nil, err
	}
	url := getenv("DATABASE_URL")
	if url == "" {
		url = getenv("DATABASE_URL_UNPOOLED")
	}
	if url == "" && rootErr == nil {
		if s, err := pgstack.Running(filepath.Join(root, devDBDir)); err == nil && s.Alive() {
			url = s.PooledURL
		}
	}
	if url == "" {
		return nil, errors.New("no database: set DATABASE_URL (or DATABASE_URL_UNPOOLED) in the environment or .env.local, or start the local stack (make dev)")
	}
	return postgres.New(postgres.Options{URL: url, ExecMode: getenv("DATABASE_EXEC_MODE")})
}

// parseInterspersed parses flags that may come before, between or after the
// positional arguments, and returns the positional ones.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}
