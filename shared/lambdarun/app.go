package lambdarun

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/redub/redub/shared/config"
	"github.com/redub/redub/shared/metric"
	"github.com/redub/redub/shared/obs"
	"github.com/redub/redub/shared/postgres"
)

// Set at link time by the Makefile (-X); "dev" and "unknown" in plain builds.
var (
	version = "dev"
	commit  = "unknown"
)

// App is what a function gets at cold start.
type App struct {
	Name     string // the function's name (AWS_LAMBDA_FUNCTION_NAME, or the name given to Main)
	Config   *config.Config
	Log      *slog.Logger
	Reporter *obs.Reporter // nil when SENTRY_DSN is empty; its methods are nil-safe
	// Metrics writes CloudWatch EMF lines to the log output (Lambda sends
	// stdout and stderr alike to CloudWatch Logs, which reads them).
	Metrics *metric.Emitter
	Version string
	Commit  string

	getenv  func(string) string
	dbOnce  sync.Once
	db      *postgres.DB
	dbErr   error
	awsOnce sync.Once
	aws     aws.Config
	awsErr  error
	visOnce sync.Once
	vis     VisibilityChanger
	visErr  error
}

// Setup builds a function's handler from the app. It returns one of the
// adapters' results (HTTP, SQS, S3, Scheduled) or any handler lambda.Start takes.
type Setup func(ctx context.Context, app *App) (any, error)

// Main is the whole of a function's main: it builds the App, calls setup and
// starts the runtime. On a config or setup error it logs one JSON line naming
// the cause and exits 1.
//
// Before anything else it gives the process its own temporary directory
// (TMPDIR) and removes those that runtimes gone before it left in /tmp, such
// as one that timed out mid-invocation (see privateTemp).
func Main(name string, setup Setup) {
	ctx := context.Background()
	tmp, removed, tmpErr := privateTemp(os.TempDir(), os.Getpid(), processAlive)
	if tmp != "" {
		_ = os.Setenv("TMPDIR", tmp) // the process's own; every os.MkdirTemp("", ...) goes below it
	}
	app, handler, err := Build(ctx, name, os.Getenv, os.Stderr, setup)
	if err != nil {
		logger := obs.NewLogger(os.Stderr, slog.LevelInfo)
		logger.ErrorContext(ctx, "cold start failed", "function", name, "error", err.Error())
		os.Exit(1)
	}
	if len(removed) > 0 {
		app.Log.WarnContext(ctx, "removed temporary directories left by an earlier runtime (a timed-out invocation?)", "paths", removed)
	}
	if tmpErr != nil {
		app.Log.WarnContext(ctx, "temporary directory", "error", tmpErr.Error())
	}
	lambda.StartWithOptions(handler, lambda.WithEnableSIGTERM(func() {
		app.Close()
		if tmp != "" {
			_ = os.RemoveAll(tmp)
		}
	}))
}

// Build does everything Main does short of starting the runtime, so tests
// can run a function's handler in process with their own environment.
func Build(ctx context.Context, name string, getenv func(string) string, logOut io.Writer, setup Setup) (*App, any, error) {
	if _, err := os.Stat(".env.local"); err == nil && getenv("AWS_LAMBDA_FUNCTION_NAME") == "" {
		g, err := config.WithDotEnv(getenv, ".env.local")
		if err != nil {
			return nil, nil, err
		}
		getenv = g
	}
	if fn := getenv("AWS_LAMBDA_FUNCTION_NAME"); fn != "" {
		name = fn
	}
	app := &App{Name: name, Version: version, Commit: commit, getenv: getenv}

	var params config.ParameterStore
	if getenv("SECRETS_SSM_PATH") != "" {
		awsCfg, err := app.AWS(ctx)
		if err != nil {
			return nil, nil, err
		}
		params = config.NewSSMStore(config.SSMClient{Region: awsCfg.Region, Endpoint: getenv("AWS_ENDPOINT_URL_SSM"), Credentials: awsCfg.Credentials})
	}
	cfg, err := config.Load(ctx, getenv, params)
	if err != nil {
		return nil, nil, err
	}
	app.Config = cfg
	level, err := obs.ParseLevel(cfg.LogLevel)
	if err != nil {
		return nil, nil, err
	}
	app.Log = obs.NewLogger(logOut, level).With(obs.Function, name)
	app.Metrics = metric.New(logOut, string(cfg.Stage))
	for _, w := range cfg.Warnings {
		app.Log.WarnContext(ctx, w)
	}
	app.Reporter, err = obs.NewReporter(obs.ReporterOptions{
		DSN: cfg.SentryDSN, Release: commit, Environment: string(cfg.Stage), ServerName: name,
	})
	if err != nil {
		return nil, nil, err
	}
	handler, err := setup(ctx, app)
	if err != nil {
		return nil, nil, fmt.Errorf("set up %s: %w", name, err)
	}
	return app, handler, nil
}

// Getenv reads a variable the way the config did (environment, then .env.local).
func (a *App) Getenv(key string) string { return a.getenv(key) }

// DB returns the database pool, creating it on first use (no I/O happens
// until the first query).
func (a *App) DB() (*postgres.DB, error) {
	a.dbOnce.Do(func() {
		a.db, a.dbErr = postgres.New(postgres.Options{URL: a.Config.DatabaseURL, ExecMode: a.Config.DatabaseExecMode})
	})
	return a.db, a.dbErr
}

// AWS returns the AWS SDK config for the function's region with the
// credentials Lambda puts in the environment (AWS_ACCESS_KEY_ID,
// AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN), read through the injected getenv.
// It deliberately skips the SDK's config loader (shared files, SSO, IMDS):
// nothing else exists in Lambda, and leaving it out keeps every function
// about 2 MiB smaller. Local endpoints come from the SDK's own variables
// (AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL_SQS), read by storage and queue.
func (a *App) AWS(context.Context) (aws.Config, error) {
	a.awsOnce.Do(func() {
		region := a.getenv("STORAGE_REGION")
		if region == "" {
			region = a.getenv("AWS_REGION")
		}
		if region == "" {
			region = "us-east-1"
		}
		id, secret := a.getenv("AWS_ACCESS_KEY_ID"), a.getenv("AWS_SECRET_ACCESS_KEY")
		if id == "" || secret == "" {
			a.awsErr = errors.New("AWS credentials missing: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set (Lambda sets them; `make dev` sets them locally)")
			return
		}
		a.aws = aws.Config{
			Region:      region,
			Credentials: aws.NewCredentialsCache(credentials.NewStaticCredentialsProvider(id, secret, a.getenv("AWS_SESSION_TOKEN"))),
		}
	})
	return a.aws, a.awsErr
}

// Close releases the pool and flushes Sentry; Main calls it on SIGTERM.
func (a *App) Close() {
	if a.db != nil {
		a.db.Close()
	}
	a.Reporter.Flush(2 * time.Second)
}
