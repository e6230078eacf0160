package stack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/redub/redub/local/gateway"
	"github.com/redub/redub/local/lambda"
	"github.com/redub/redub/local/pgstack"
	locals3 "github.com/redub/redub/local/s3"
	"github.com/redub/redub/local/schedule"
	localsqs "github.com/redub/redub/local/sqs"
	"github.com/redub/redub/local/template"
	"github.com/redub/redub/migrations"
	"github.com/redub/redub/shared/config"
	"github.com/redub/redub/shared/postgres"
)

// Local credentials and identity: the stand-ins check SigV4 with these.
const (
	AccessKey = "redublocal"
	SecretKey = "redublocalsecret"
	AccountID = "000000000000"
	Region    = "us-east-1"
)

// Ports are the listen addresses; zero ports pick free ones (tests).
type Ports struct {
	API, S3, SQS, Relay, Control, Postgres, Bouncer int
}

// DefaultPorts are what `make dev` uses, so URLs stay the same across runs.
var DefaultPorts = Ports{API: 3000, S3: 3900, SQS: 3901, Relay: 3902, Control: 3903, Postgres: 3910, Bouncer: 3911}

// Options configure Start.
type Options struct {
	Root     string              // repository root (module root): functions are built from here
	Template string              // template path, default <Root>/template.yaml
	StateDir string              // default <Root>/.dev
	ToolsDir string              // default <Root>/.tools
	WebDir   string              // the built web app the gateway serves, default <Root>/web/dist
	Ports    Ports               // see DefaultPorts
	Getenv   func(string) string // the process environment (.env.local is read on top)
	Out      io.Writer           // the merged log stream
}

// Stack is a running local stack.
type Stack struct {
	metrics *Metrics // the EMF lines of the functions' output, for `redub dev metrics`
	opts    Options
	log     *slog.Logger
	tpl     *template.Template
	env     func(string) string
	started time.Time

	db        *pgstack.Stack
	dbPooled  string
	dbDirect  string
	sqsServer *localsqs.Server
	s3gw      *locals3.Gateway
	sqsClient *sqs.Client
	s3Client  *s3.Client
	queues    map[string]localsqs.QueueInfo // by queue name
	lambdas   *lambda.Manager
	specs     map[string]lambda.FunctionSpec
	relay     atomic.Pointer[locals3.Relay]
	sched     *schedule.Scheduler
	servers   []*http.Server

	cancel context.CancelFunc
	wg     sync.WaitGroup

	apiURL, controlURL string
	timings            []Timing
}

// Timing is how long one start phase took.
type Timing struct {
	Phase    string
	Duration time.Duration
}

// Start brings the stack up in order and returns once every part answers.
// On failure it stops what it started and returns an error naming the part.
func Start(ctx context.Context, opts Options) (_ *Stack, err error) {
	if opts.Root == "" {
		return nil, errors.New("stack: Root is required")
	}
	if opts.Template == "" {
		opts.Template = filepath.Join(opts.Root, "template.yaml")
	}
	if opts.StateDir == "" {
		opts.StateDir = filepath.Join(opts.Root, ".dev")
	}
	if opts.ToolsDir == "" {
		opts.ToolsDir = filepath.Join(opts.Root, ".tools")
	}
	if opts.WebDir == "" {
		opts.WebDir = filepath.Join(opts.Root, "web", "dist")
	}
	if opts.Getenv == nil {
		opts.Getenv = os.Getenv
	}
	if opts.Out == nil {
		opts.Out = os.Stdout
	}
	lw := NewLineWriter(opts.Out)
	s := &Stack{opts: opts, started: time.Now(), queues: map[string]localsqs.QueueInfo{}, metrics: NewMetrics()}
	lw.observe = s.metrics.Observe
	s.log = slog.New(slog.NewTextHandler(lw.Prefixed("stack"), &slog.HandlerOptions{Level: slog.LevelInfo}))
	defer func() {
		if err != nil {
			s.Stop(context.WithoutCancel(ctx))
		}
	}()
	if err := os.MkdirAll(opts.StateDir, 0o755); err != nil {
		return nil, fmt.Errorf("stack: create %s: %w", opts.StateDir, err)
	}
	s.env, err = config.WithDotEnv(opts.Getenv, filepath.Join(opts.Root, ".env.local"))
	if err != nil {
		return nil, err
	}
	if err := checkTools(opts.ToolsDir); err != nil {
		return nil, err
	}

	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.cancel = cancel

	// Build the functions while the services start: the compiler is the slowest part.
	type buildResult struct {
		bins map[string]string
		err  error
	}
	builds := make(chan buildResult, 1)
	tplForBuild, err := template.Load(opts.Template, template.Locals{
		Parameters: map[string]string{"Stage": "development"}, ParameterLookup: s.parameter, Region: Region, AccountID: AccountID,
		QueueURL: func(string) string { return "" },
	})
	if err != nil {
		return nil, fmt.Errorf("stack: read %s: %w", opts.Template, err)
	}
	go func() {
		bins, err := s.buildFunctions(ctx, tplForBuild)
		builds <- buildResult{bins, err}
	}()

	if err := s.phase("postgres", func() error { return s.startPostgres(ctx, lw) }); err != nil {
		return nil, err
	}
	if err := s.phase("migrations", func() error { return s.migrate(ctx) }); err != nil {
		return nil, err
	}
	// versitygw posts a test event when it starts and exits if nobody
	// answers, so the relay's listener is up first; until the relay exists
	// (it needs the queues and functions) posts are acknowledged and dropped.
	relayLn, err := listen(opts.Ports.Relay)
	if err != nil {
		return nil, fmt.Errorf("stack: relay: %w", err)
	}
	s.serve(relayLn, http.HandlerFunc(s.serveRelay))
	if err := s.phase("s3 (versitygw)", func() error { return s.startS3(ctx, lw, relayLn) }); err != nil {
		return nil, err
	}
	if err := s.phase("sqs (local-aws-sqs)", func() error { return s.startSQS(ctx, lw) }); err != nil {
		return nil, err
	}
	s.tpl, err = template.Load(opts.Template, template.Locals{
		Parameters: map[string]string{"Stage": "development"}, ParameterLookup: s.parameter, Region: Region, AccountID: AccountID,
		QueueURL: func(name string) string { return localsqs.QueueURL(s.sqsServer.Endpoint(), AccountID, name) },
	})
	if err != nil {
		return nil, fmt.Errorf("stack: read %s: %w", opts.Template, err)
	}
	if err := s.phase("bucket and queues", func() error { return s.createResources(ctx) }); err != nil {
		return nil, err
	}
	var bins map[string]string
	if err := s.phase("build functions", func() error {
		r := <-builds
		bins = r.bins
		return r.err
	}); err != nil {
		return nil, err
	}
	if err := s.phase("lambda environments", func() error { return s.startLambdas(ctx, lw, bins) }); err != nil {
		return nil, err
	}
	s.startRelay()
	s.startPollers(runCtx)
	s.sched = schedule.New(s.allSchedules(), s.lambdas, Region, AccountID, s.log)
	s.wg.Go(func() { s.sched.Run(runCtx) })
	if err := s.phase("api gateway", func() error { return s.startGateway() }); err != nil {
		return nil, err
	}
	if err := s.startControl(); err != nil {
		return nil, err
	}
	if err := s.writeState(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Stack) phase(name string, fn func() error) error {
	start := time.Now()
	if err := fn(); err != nil {
		return fmt.Errorf("stack: %s: %w", name, err)
	}
	s.timings = append(s.timings, Timing{name, time.Since(start)})
	return nil
}

// Timings returns how long each start phase took.
func (s *Stack) Timings() []Timing { return s.timings }

// StateDir is where the stack keeps its data and built functions.
func (s *Stack) StateDir() string { return s.opts.StateDir }

// APIURL is the gateway's base URL.
func (s *Stack) APIURL() string { return s.apiURL }

// AppURL is where a browser opens the web app: AUTH_URL when it is set (the
// origin that the session cookie and the API's Origin check expect), else
// the gateway under the name localhost, which is AUTH_URL's local default.
func (s *Stack) AppURL() string {
	if u := s.env("AUTH_URL"); u != "" {
		return strings.TrimSuffix(u, "/") + "/"
	}
	return strings.Replace(s.apiURL, "127.0.0.1", "localhost", 1) + "/"
}

// ControlURL is the control endpoint's base URL.
func (s *Stack) ControlURL() string { return s.controlURL }

// Template is the template as resolved for this stack.
func (s *Stack) Template() *template.Template { return s.tpl }

// SQS returns a client for the local SQS endpoint.
func (s *Stack) SQS() *sqs.Client { return s.sqsClient }

// S3 returns a path-style client for the local S3 endpoint.
func (s *Stack) S3() *s3.Client { return s.s3Client }

// Queue returns a queue's URL and ARN by template logical id.
func (s *Stack) Queue(logicalID string) (localsqs.QueueInfo, bool) {
	q, ok := s.tpl.Queues[logicalID]
	if !ok {
		return localsqs.QueueInfo{}, false
	}
	info, ok := s.queues[q.Name]
	return info, ok
}

// Env is the environment of the local endpoints, for tools and tests that
// talk to the stack like a function does.
func (s *Stack) Env() map[string]string {
	return map[string]string{
		"DATABASE_URL":          s.dbPooled,
		"DATABASE_URL_UNPOOLED": s.dbDirect,
		"AWS_ENDPOINT_URL_S3":   s.s3gw.Endpoint(),
		"AWS_ENDPOINT_URL_SQS":  s.sqsServer.Endpoint(),
		"AWS_ACCESS_KEY_ID":     AccessKey,
		"AWS_SECRET_ACCESS_KEY": SecretKey,
		"AWS_REGION":            Region,
	}
}

// Invoke runs a function by logical id, as `redub dev invoke` does.
func (s *Stack) Invoke(ctx context.Context, function string, payload []byte) ([]byte, error) {
	res, err := s.lambdas.Invoke(ctx, function, payload)
	if err != nil {
		return res.Payload, err
	}
	if res.FunctionError != "" {
		return res.Payload, fmt.Errorf("function error (%s): %s", res.FunctionError, res.Payload)
	}
	return res.Payload, nil
}

// FunctionPIDs returns the process ids of a function's running processes
// (by logical id), for drills that kill a function of this stack and of no
// other.
func (s *Stack) FunctionPIDs(function string) ([]int, error) {
	return s.lambdas.FunctionPIDs(function)
}

// FunctionSpec is how the stack runs a function (binary, environment,
// limits), for tools that start extra environments, such as benchmarks.
func (s *Stack) FunctionSpec(id string) (lambda.FunctionSpec, bool) {
	spec, ok := s.specs[id]
	return spec, ok
}

// RIE is the path of the aws-lambda-rie binary the stack uses.
func (s *Stack) RIE() string { return filepath.Join(s.opts.ToolsDir, "aws-lambda-rie") }

// Fire runs a schedule now.
func (s *Stack) Fire(ctx context.Context, name string) ([]byte, error) {
	res, err := s.sched.Fire(ctx, name)
	return res.Payload, err
}

// Stop stops everything in reverse order and waits; data under StateDir stays.
func (s *Stack) Stop(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if s.cancel != nil {
		s.cancel()
	}
	for i := len(s.servers) - 1; i >= 0; i-- {
		_ = s.servers[i].Shutdown(ctx)
	}
	s.wg.Wait()
	if relay := s.relay.Load(); relay != nil {
		_ = relay.Close(ctx)
	}
	if s.lambdas != nil {
		_ = s.lambdas.Close(ctx)
	}
	if s.sqsServer != nil {
		_ = s.sqsServer.Stop(ctx)
	}
	if s.s3gw != nil {
		_ = s.s3gw.Stop(ctx)
	}
	if s.db != nil {
		_ = s.db.Stop(ctx)
	}
	_ = os.Remove(filepath.Join(s.opts.StateDir, stateFile))
}

func (s *Stack) startPostgres(ctx context.Context, lw *LineWriter) error {
	if u := s.env("DATABASE_URL"); u != "" {
		s.dbPooled, s.dbDirect = u, s.env("DATABASE_URL_UNPOOLED")
		if s.dbDirect == "" {
			s.dbDirect = u
			s.log.Warn("DATABASE_URL_UNPOOLED is not set: migrations run through DATABASE_URL")
		}
		return nil
	}
	db, err := pgstack.Start(ctx, pgstack.Options{
		Dir: filepath.Join(s.opts.StateDir, "postgres"), PostgresPort: s.opts.Ports.Postgres, BouncerPort: s.opts.Ports.Bouncer,
		Log: lw.Prefixed("postgres"),
	})
	if err != nil {
		return err
	}
	s.db, s.dbPooled, s.dbDirect = db, db.PooledURL, db.DirectURL
	return nil
}

func (s *Stack) migrate(ctx context.Context) error {
	db, err := postgres.OpenSQL(s.dbDirect)
	if err != nil {
		return err
	}
	defer db.Close()
	applied, err := migrations.Up(ctx, db)
	if err != nil {
		return err
	}
	if len(applied) > 0 {
		s.log.Info("migrations applied", "versions", fmt.Sprint(applied))
	}
	return nil
}

func (s *Stack) awsConfig() aws.Config {
	return aws.Config{Region: Region, Credentials: credentials.NewStaticCredentialsProvider(AccessKey, SecretKey, "")}
}

func (s *Stack) startS3(ctx context.Context, lw *LineWriter, relayLn net.Listener) error {
	gw, err := locals3.StartGateway(ctx, locals3.GatewayOptions{
		Binary: filepath.Join(s.opts.ToolsDir, "versitygw"), DataDir: filepath.Join(s.opts.StateDir, "s3"),
		Port: s.opts.Ports.S3, AccessKey: AccessKey, SecretKey: SecretKey, Region: Region,
		WebhookURL: "http://" + relayLn.Addr().String() + "/s3-events", Log: lw.Prefixed("s3"),
	})
	if err != nil {
		return err
	}
	s.s3gw = gw
	endpoint := gw.Endpoint()
	s.s3Client = s3.NewFromConfig(s.awsConfig(), func(o *s3.Options) {
		o.BaseEndpoint = &endpoint
		o.UsePathStyle = true
	})
	return nil
}

func (s *Stack) startSQS(ctx context.Context, lw *LineWriter) error {
	srv, err := localsqs.StartServer(ctx, localsqs.ServerOptions{
		ToolsDir: s.opts.ToolsDir, Port: s.opts.Ports.SQS, Log: lw.Prefixed("sqs"), StateDir: filepath.Join(s.opts.StateDir, "sqs"),
	})
	if err != nil {
		return err
	}
	s.sqsServer = srv
	endpoint := srv.Endpoint()
	s.sqsClient = sqs.NewFromConfig(s.awsConfig(), func(o *sqs.Options) { o.BaseEndpoint = &endpoint })
	return nil
}

func (s *Stack) createResources(ctx context.Context) error {
	for _, b := range s.tpl.Buckets {
		if err := locals3.EnsureBucket(ctx, s.s3Client, b.Name); err != nil {
			return fmt.Errorf("bucket %s: %w", b.LogicalID, err)
		}
		if len(b.CORS) > 0 {
			if err := locals3.PutCORS(ctx, s.s3Client, b.Name, b.CORS); err != nil {
				return fmt.Errorf("bucket %s: %w", b.LogicalID, err)
			}
		}
	}
	specs := make([]localsqs.QueueSpec, 0, len(s.tpl.Queues))
	for _, q := range s.tpl.Queues {
		spec := localsqs.QueueSpec{Name: q.Name, FIFO: q.FIFO, VisibilityTimeout: q.VisibilityTimeout,
			Retention: q.Retention, MaxMessageSize: q.MaxMessageSize, MaxReceiveCount: q.MaxReceiveCount}
		if q.DeadLetter != "" {
			spec.DeadLetter = s.tpl.Queues[q.DeadLetter].Name
		}
		specs = append(specs, spec)
	}
	sort.Slice(specs, func(i, j int) bool { return specs[i].Name < specs[j].Name })
	qs, err := localsqs.EnsureQueues(ctx, s.sqsClient, specs)
	if err != nil {
		return err
	}
	s.queues = qs
	return nil
}

// parameter resolves a template parameter for local runs from the
// environment or .env.local by its SCREAMING_SNAKE name (AuthURL from
// AUTH_URL, LogLevel from LOG_LEVEL); Stage is always development.
func (s *Stack) parameter(name string) (string, bool) {
	v := s.env(screamingSnake(name))
	return v, v != ""
}

func screamingSnake(s string) string {
	var b strings.Builder
	rs := []rune(s)
	for i, r := range rs {
		upper := r >= 'A' && r <= 'Z'
		if i > 0 && upper && (rs[i-1] < 'A' || rs[i-1] > 'Z' || (i+1 < len(rs) && rs[i+1] >= 'a' && rs[i+1] <= 'z')) {
			b.WriteByte('_')
		}
		b.WriteRune(r)
	}
	return strings.ToUpper(b.String())
}

// buildFunctions compiles every function for the host in one go build (the
// shared packages compile once) into StateDir/build/<LogicalId>/bootstrap.
func (s *Stack) buildFunctions(ctx context.Context, t *template.Template) (map[string]string, error) {
	tplDir := filepath.Dir(s.opts.Template)
	outDir := filepath.Join(s.opts.StateDir, "build")
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return nil, fmt.Errorf("build: %w", err)
	}
	bins := map[string]string{}
	var pkgs []string
	for id, f := range t.Functions {
		abs := filepath.Join(tplDir, f.Dir)
		rel, err := filepath.Rel(s.opts.Root, abs)
		if err != nil || strings.HasPrefix(rel, "..") {
			return nil, fmt.Errorf("build %s: %s is outside the module at %s", id, abs, s.opts.Root)
		}
		pkgs = append(pkgs, "./"+filepath.ToSlash(rel))
		bins[id] = filepath.Join(outDir, filepath.Base(f.Dir))
	}
	if len(pkgs) == 0 {
		return bins, nil
	}
	sort.Strings(pkgs)
	args := append([]string{"build", "-tags", "lambda.norpc", "-trimpath", "-ldflags", "-s -w -X github.com/redub/redub/shared/lambdarun.version=dev-local", "-o", outDir + string(filepath.Separator)}, pkgs...)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = s.opts.Root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("go build %s: %w\n%s", strings.Join(pkgs, " "), err, out)
	}
	return bins, nil
}

func (s *Stack) startLambdas(ctx context.Context, lw *LineWriter, bins map[string]string) error {
	s.lambdas = lambda.NewManager(lambda.Options{
		RIE: filepath.Join(s.opts.ToolsDir, "aws-lambda-rie"), Log: lw, Region: Region,
	})
	ids := make([]string, 0, len(s.tpl.Functions))
	for id := range s.tpl.Functions {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	s.specs = map[string]lambda.FunctionSpec{}
	for _, id := range ids {
		f := s.tpl.Functions[id]
		spec := lambda.FunctionSpec{
			Name: id, Binary: bins[id], Env: s.functionEnv(f), Timeout: f.Timeout, MemoryMB: f.MemoryMB,
			MaxConcurrency: f.ReservedConcurrency, Dir: s.opts.Root,
		}
		s.specs[id] = spec
		if err := s.lambdas.Add(spec); err != nil {
			return fmt.Errorf("%s: %w", id, err)
		}
	}
	var wg sync.WaitGroup
	errs := make([]error, len(ids))
	for i, id := range ids {
		wg.Go(func() { errs[i] = s.lambdas.Warm(ctx, id) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// functionEnv is what a function sees: .env.local and the process
// environment for what the template does not set (secrets, provider keys),
// the template's variables, then the local endpoints.
func (s *Stack) functionEnv(f *template.Function) map[string]string {
	env := map[string]string{}
	for _, k := range passThrough {
		if v := s.env(k); v != "" {
			env[k] = v
		}
	}
	for k, v := range f.Env {
		env[k] = v
	}
	for k, v := range s.Env() {
		env[k] = v
	}
	// Functions reach the database through the pooler only, unless the
	// template gives them the direct URL (backups).
	if _, ok := f.Env["DATABASE_URL_UNPOOLED"]; ok {
		env["DATABASE_URL_UNPOOLED"] = s.dbDirect
	} else {
		delete(env, "DATABASE_URL_UNPOOLED")
	}
	env["SECRETS_SSM_PATH"] = "" // no SSM locally: secrets come from .env.local
	env["STAGE"] = "development"
	return env
}

// passThrough are the variables a developer may set in .env.local or the
// environment that reach every function (when the template does not set them).
var passThrough = []string{
	"AUTH_SECRET", "NEXTAUTH_SECRET", "AUTH_URL", "NEXTAUTH_URL", "GOOGLE_CLIENT_ID", "GOOGLE_CLIENT_SECRET", "GOOGLE_ISSUER_URL",
	"RATE_LIMIT_AUTH_PER_MINUTE", "RATE_LIMIT_API_PER_MINUTE", "UPLOAD_MAX_BYTES", "UPLOAD_DAILY_QUOTA_BYTES",
	"OPENAI_API_KEY", "OPENAI_BASE_URL", "ELEVENLABS_API_KEY", "ELEVENLABS_BASE_URL",
	"SENTRY_DSN", "LOG_LEVEL", "DATABASE_EXEC_MODE", "STEP_LEASE_SECONDS", "TRANSCODE_PART_SECONDS", "MIX_PART_SECONDS",
	"OPENAI_TRANSCRIBE_MODEL", "OPENAI_TRANSLATE_MODEL", "ELEVENLABS_MODEL", "ELEVENLABS_VOICE",
	"WEBHOOK_RETRY_SECONDS", "LOG_SHIP_TOKEN", "LOG_SHIP_LOKI_FORMAT",
	"ELEVENLABS_VOICES", "ELEVENLABS_STT_MODEL", "SLOT_AWARE_TRANSLATION",
	"OPENAI_CONCURRENCY", "ELEVENLABS_CONCURRENCY", "LOCAL_SPEECH_CONCURRENCY",
}

func (s *Stack) serveRelay(w http.ResponseWriter, r *http.Request) {
	if relay := s.relay.Load(); relay != nil && r.URL.Path == "/s3-events" {
		relay.ServeHTTP(w, r)
		return
	}
	_, _ = io.Copy(io.Discard, r.Body)
	w.WriteHeader(http.StatusOK)
}

func (s *Stack) startRelay() {
	var routes []locals3.Route
	for _, b := range s.tpl.Buckets {
		for _, n := range b.Notifications {
			r := locals3.Route{Bucket: b.Name, Events: n.Events, Prefix: n.Prefix, Suffix: n.Suffix, Function: n.Function}
			if n.Queue != "" {
				q := s.queues[s.tpl.Queues[n.Queue].Name]
				r.QueueURL, r.QueueARN = q.URL, q.ARN
			}
			routes = append(routes, r)
		}
	}
	for _, f := range s.tpl.Functions {
		for _, src := range f.S3 {
			routes = append(routes, locals3.Route{Bucket: s.tpl.Buckets[src.Bucket].Name, Events: src.Events,
				Prefix: src.Prefix, Suffix: src.Suffix, Function: src.Function})
		}
	}
	s.relay.Store(locals3.NewRelay(routes, s.sqsClient, s.lambdas, locals3.RelayOptions{Region: Region, Log: s.log, Objects: s.s3Client}))
}

func (s *Stack) startPollers(ctx context.Context) {
	for _, f := range s.tpl.Functions {
		for _, src := range f.SQS {
			if !src.Enabled {
				continue
			}
			q := s.tpl.Queues[src.Queue]
			info := s.queues[q.Name]
			p := localsqs.NewPoller(s.sqsClient, s.lambdas, localsqs.Mapping{
				Function: f.LogicalID, QueueName: q.Name, QueueURL: info.URL, QueueARN: info.ARN,
				BatchSize: src.BatchSize, MaxBatchingWindow: src.MaxBatchingWindow,
				ReportBatchItemFailures: src.ReportBatchItemFailures, MaxConcurrency: src.MaxConcurrency,
				VisibilityTimeout: q.VisibilityTimeout, Region: Region,
			}, s.log)
			s.wg.Go(func() { _ = p.Run(ctx) })
		}
	}
}

func (s *Stack) allSchedules() []template.Schedule {
	var out []template.Schedule
	for _, f := range s.tpl.Functions {
		out = append(out, f.Schedules...)
	}
	return out
}

func (s *Stack) startGateway() error {
	ln, err := listen(s.opts.Ports.API)
	if err != nil {
		return err
	}
	s.apiURL = "http://" + ln.Addr().String()
	site := &gateway.Site{Dir: s.opts.WebDir, Storage: s.s3gw.Endpoint()}
	s.serve(ln, gateway.New(s.tpl, s.lambdas, gateway.Options{AccountID: AccountID, Region: Region, Log: s.log, Site: site}))
	return nil
}

func (s *Stack) serve(ln net.Listener, h http.Handler) {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	s.servers = append(s.servers, srv)
	s.wg.Go(func() { _ = srv.Serve(ln) })
}

func listen(port int) (net.Listener, error) {
	ln, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return nil, fmt.Errorf("listen on 127.0.0.1:%d (is another `make dev` running? `redub dev status`): %w", port, err)
	}
	return ln, nil
}

func checkTools(dir string) error {
	var missing []string
	for _, p := range []string{"aws-lambda-rie", "versitygw", "node_modules/local-aws-sqs/package.json"} {
		if _, err := os.Stat(filepath.Join(dir, p)); err != nil {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("stack: missing tools in %s: %s: run `make tools`", dir, strings.Join(missing, ", "))
	}
	return nil
}

const stateFile = "stack.json"

// State is what a running stack records for `redub dev status|invoke|fire`.
type State struct {
	PID        int    `json:"pid"`
	APIURL     string `json:"api_url"`
	ControlURL string `json:"control_url"`
}

func (s *Stack) writeState() error {
	b, _ := json.Marshal(State{PID: os.Getpid(), APIURL: s.apiURL, ControlURL: s.controlURL})
	if err := os.WriteFile(filepath.Join(s.opts.StateDir, stateFile), b, 0o644); err != nil {
		return fmt.Errorf("stack: write state: %w", err)
	}
	return nil
}

// ReadState finds a running stack's control endpoint under stateDir.
func ReadState(stateDir string) (State, error) {
	var st State
	b, err := os.ReadFile(filepath.Join(stateDir, stateFile))
	if err != nil {
		return st, fmt.Errorf("no local stack is running here (start it with `make dev`): %w", err)
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("read %s: %w", stateFile, err)
	}
	return st, nil
}
