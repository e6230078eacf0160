package config

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Stage is the deployment a function runs in; each has its own SAM config
// environment, SSM path and database.
type Stage string

// The three stages. Staging and production hold real users' data, so they
// require real secrets; development falls back to local defaults.
const (
	Development Stage = "development"
	Staging     Stage = "staging"
	Production  Stage = "production"
)

// Valid reports whether s is one of the three stages.
func (s Stage) Valid() bool {
	return s == Development || s == Staging || s == Production
}

// deployed reports whether s serves real users, where secrets are required.
func (s Stage) deployed() bool {
	return s == Staging || s == Production
}

// DevelopmentAuthSecret is the session secret used when STAGE=development and
// AUTH_SECRET is unset. It is public, so Load refuses it in any other stage.
const DevelopmentAuthSecret = "redub-development-only-auth-secret-not-secret" //nolint:gosec // public on purpose: development only, refused in staging and production

// minAuthSecretLen is the shortest AUTH_SECRET accepted outside development;
// `openssl rand -base64 32` gives 44 characters.
const minAuthSecretLen = 32

// Defaults for optional variables.
const (
	defaultAuthURL           = "http://localhost:3000"
	defaultExecMode          = "exec"
	defaultOpenAIBaseURL     = "https://api.openai.com/v1"
	defaultElevenLabsBaseURL = "https://api.elevenlabs.io"
	defaultRegion            = "us-east-1"
	defaultLogLevel          = "info"
)

// Queues holds the SQS queue URLs of the job steps, read from
// <STEP>_QUEUE_URL, and of the webhook deliveries (WEBHOOK_QUEUE_URL) and
// the log batches to resend (LOG_SHIP_QUEUE_URL). A function sets only the
// ones it sends to.
type Queues struct {
	Ingest, Transcode, Transcribe, Translate, Synthesize, Mix string
	Webhook, LogShip                                          string
}

// queueVar ties a step to its variable and field.
type queueVar struct {
	step, name string
	url        *string
}

func (q *Queues) vars() []queueVar {
	return []queueVar{
		{"ingest", "INGEST_QUEUE_URL", &q.Ingest},
		{"transcode", "TRANSCODE_QUEUE_URL", &q.Transcode},
		{"transcribe", "TRANSCRIBE_QUEUE_URL", &q.Transcribe},
		{"translate", "TRANSLATE_QUEUE_URL", &q.Translate},
		{"synthesize", "SYNTHESIZE_QUEUE_URL", &q.Synthesize},
		{"mix", "MIX_QUEUE_URL", &q.Mix},
		{"webhook", "WEBHOOK_QUEUE_URL", &q.Webhook},
		{"logship", "LOG_SHIP_QUEUE_URL", &q.LogShip},
	}
}

// All returns step name ("ingest", "transcode", ...) -> queue URL for the
// queues that are set.
func (q Queues) All() map[string]string {
	all := make(map[string]string)
	for _, v := range q.vars() {
		if *v.url != "" {
			all[v.step] = *v.url
		}
	}
	return all
}

// Config is everything a function reads from its environment. See the package
// documentation for each variable's rule.
type Config struct {
	Stage               Stage         // STAGE
	DatabaseURL         string        // DATABASE_URL, the pooled endpoint
	DatabaseURLUnpooled string        // DATABASE_URL_UNPOOLED, the direct endpoint; "" when unset
	DatabaseExecMode    string        // DATABASE_EXEC_MODE, a pgx QueryExecMode name
	AuthSecret          string        // AUTH_SECRET or NEXTAUTH_SECRET
	AuthURL             *url.URL      // AUTH_URL or NEXTAUTH_URL
	GoogleClientID      string        // GOOGLE_CLIENT_ID
	GoogleClientSecret  string        // GOOGLE_CLIENT_SECRET
	GoogleIssuerURL     string        // GOOGLE_ISSUER_URL: the OpenID provider, default https://accounts.google.com
	OpenAIAPIKey        string        // OPENAI_API_KEY; "" means offline engines
	OpenAIBaseURL       string        // OPENAI_BASE_URL, without a trailing slash
	ElevenLabsAPIKey    string        // ELEVENLABS_API_KEY; "" means offline engines
	ElevenLabsBaseURL   string        // ELEVENLABS_BASE_URL, without a trailing slash
	Models              Models        // provider models and the default voice
	Speech              Speech        // TRANSCRIBE_ENGINE, ELEVENLABS_VOICES, ELEVENLABS_STT_MODEL
	StorageBucket       string        // STORAGE_BUCKET
	StorageRegion       string        // STORAGE_REGION, AWS_REGION or us-east-1
	Queues              Queues        // <STEP>_QUEUE_URL
	Limits              Limits        // rate limits and upload limits
	SentryDSN           string        // SENTRY_DSN; "" disables Sentry
	LogLevel            string        // LOG_LEVEL, lower case
	SessionMaxAge       time.Duration // SESSION_MAX_AGE_DAYS: a session's absolute lifetime (default 90 days)
	DevLoginCode        string        // DEV_LOGIN_CODE: a preview's dev-login access code; "" where none is needed
	SecretsPath         string        // SECRETS_SSM_PATH; "" when SSM was not read
	SecretsNames        []string      // SECRETS_SSM_NAMES: the parameters read under SecretsPath
	Warnings            []string      // non-fatal notes for the caller to log once
	Pipeline            Pipeline      // STEP_LEASE_SECONDS, DEAD_LETTER_QUEUE_URLS, BACKUP_BUCKET
	Webhooks            Webhooks      // WEBHOOK_RETRY_SECONDS
	LogShip             LogShip       // LOG_SHIP_*: where the log shipper forwards the functions' lines
	Cost                Cost          // AWS_LAMBDA_FUNCTION_MEMORY_SIZE, LAMBDA_ARCHITECTURE, OUTPUT_RETENTION_DAYS, PRICES_JSON
}

// ParameterStore reads named parameters directly under an SSM path.
type ParameterStore interface {
	// Parameters returns name (e.g. "AUTH_SECRET", read as path+name) ->
	// decrypted value for those of names that exist, or an error if the store
	// cannot be read.
	Parameters(ctx context.Context, path string, names []string) (map[string]string, error)
}

// Load reads, validates and returns the config. getenv is consulted first;
// when SECRETS_SSM_PATH is set, the parameters SECRETS_SSM_NAMES lists are
// read from params once and their values fill the variables getenv leaves
// empty (STAGE, SECRETS_SSM_PATH and SECRETS_SSM_NAMES themselves come only
// from getenv). params may be nil when SECRETS_SSM_PATH is empty.
//
// SECRETS_SSM_NAMES is also what the function declares it needs: when it is
// set, staging and production require AUTH_SECRET only of a function that
// lists it, and the Google client only of one that lists GOOGLE_CLIENT_ID or
// GOOGLE_CLIENT_SECRET, so a media function runs without either.
//
// Every problem is returned at once, joined with errors.Join, each a *VarError
// naming the variable (find them with errors.As). When the secret source
// itself is unusable (SECRETS_SSM_PATH malformed or for another stage, STAGE
// invalid, params nil, or the store failing) Load reports only that, since
// every later check would depend on values it could not read; a store failure
// is a *SecretsError wrapping the store's error.
func Load(ctx context.Context, getenv func(string) string, params ParameterStore) (*Config, error) {
	return LoadAt(ctx, getenv, params, time.Now())
}

// LoadAt is Load on the day now: the checks that depend on the date (a
// provider model past its shutdown) use it, so tests can set the clock.
func LoadAt(ctx context.Context, getenv func(string) string, params ParameterStore, now time.Time) (*Config, error) {
	if getenv == nil {
		return nil, errors.New("config: Load needs a getenv function")
	}
	l := &loader{getenv: getenv, now: now}

	stage := Stage(l.env("STAGE"))
	switch {
	case stage == "":
		l.fail("STAGE", false, "is required ("+oneOf(string(Development), string(Staging), string(Production))+")")
	case !stage.Valid():
		l.fail("STAGE", false, fmt.Sprintf("is %q, want %s", stage, oneOf(string(Development), string(Staging), string(Production))))
	default:
		l.stage = stage
	}

	l.secretNames()
	if path := l.env("SECRETS_SSM_PATH"); path != "" {
		if err := l.readSecrets(ctx, path, params); err != nil {
			return nil, err
		}
	}

	c := &Config{Stage: l.stage, SecretsPath: l.path, SecretsNames: l.names}
	l.database(c)
	l.auth(c)
	l.providers(c)
	l.models(c)
	l.speech(c)
	l.storage(c)
	l.queues(c)
	l.limits(c)
	l.observability(c)
	l.pipeline(c)
	l.webhooks(c)
	l.logShip(c)
	l.cost(c)
	l.unusedParams()

	if len(l.errs) > 0 {
		return nil, errors.Join(l.errs...)
	}
	c.Warnings = l.warnings
	return c, nil
}

// loader accumulates what Load finds, so each check can report and move on.
type loader struct {
	getenv   func(string) string
	stage    Stage             // "" when STAGE is invalid
	path     string            // SSM path, "" when SSM is not read
	names    []string          // SECRETS_SSM_NAMES; nil when unset
	params   map[string]string // SSM parameters by name
	read     map[string]bool   // parameter names Load looked up
	errs     []error
	warnings []string
	now      time.Time // the day the date-bound checks use
}

// env returns a variable from getenv only.
func (l *loader) env(name string) string {
	return strings.TrimSpace(l.getenv(name))
}

// lookup returns the first non-empty value among names (a variable and its
// aliases, preferred first): the environment is searched before SSM. It
// returns the name that held the value and whether it came from SSM.
func (l *loader) lookup(names ...string) (value, name string, fromSSM bool) {
	if l.read != nil {
		for _, n := range names {
			l.read[n] = true
		}
	}
	for _, n := range names {
		if v := l.env(n); v != "" {
			return v, n, false
		}
	}
	for _, n := range names {
		if v := strings.TrimSpace(l.params[n]); v != "" {
			return v, n, true
		}
	}
	return "", names[0], false
}

// fail records a problem with name; fromSSM adds where the value came from,
// since the fix is then in the store rather than the environment.
func (l *loader) fail(name string, fromSSM bool, reason string) {
	if fromSSM {
		reason += " (value from SSM parameter " + l.path + name + ")"
	}
	l.errs = append(l.errs, &VarError{Name: name, Reason: reason})
}

// missing records that a required variable is unset. when qualifies the
// requirement ("when STAGE=staging"); alias is the old name also accepted.
func (l *loader) missing(name, alias, when string) {
	reason := "is required"
	if when != "" {
		reason += " " + when
	}
	set := "set it"
	if alias != "" {
		set = "set it or " + alias
	}
	switch {
	case l.path != "":
		reason += fmt.Sprintf(" (%s, or create the SSM parameter %s%s)", set, l.path, name)
	case l.stage.deployed():
		reason += fmt.Sprintf(" (%s, or set SECRETS_SSM_PATH=/redub/%s/ and create the SSM parameter /redub/%s/%s)", set, l.stage, l.stage, name)
	case alias != "":
		reason += " (" + set + ")"
	}
	l.errs = append(l.errs, &VarError{Name: name, Reason: reason})
}

func (l *loader) warn(format string, args ...any) {
	l.warnings = append(l.warnings, fmt.Sprintf(format, args...))
}

// needs reports whether the function uses one of these variables: always,
// unless SECRETS_SSM_NAMES says what it reads and lists none of them.
func (l *loader) needs(names ...string) bool {
	return l.names == nil || slices.ContainsFunc(names, func(n string) bool { return slices.Contains(l.names, n) })
}

// secretNames reads SECRETS_SSM_NAMES: comma-separated variable names.
func (l *loader) secretNames() {
	raw := l.env("SECRETS_SSM_NAMES")
	if raw == "" {
		return
	}
	l.names = []string{}
	for _, n := range strings.Split(raw, ",") {
		n = strings.TrimSpace(n)
		switch {
		case n == "":
		case !isVarName(n) || n == "STAGE" || strings.HasPrefix(n, "SECRETS_SSM_"):
			l.fail("SECRETS_SSM_NAMES", false, fmt.Sprintf("lists %q, which is not a variable the config reads from SSM", n))
		case !slices.Contains(l.names, n):
			l.names = append(l.names, n)
		}
	}
	slices.Sort(l.names)
}

func isVarName(s string) bool {
	for i, r := range s {
		upper, digit := r >= 'A' && r <= 'Z', r >= '0' && r <= '9'
		if !upper && r != '_' && (i == 0 || !digit) {
			return false
		}
	}
	return s != ""
}

// readSecrets checks SECRETS_SSM_PATH and SECRETS_SSM_NAMES and reads the
// named parameters under the path. The returned error holds every problem
// found so far.
func (l *loader) readSecrets(ctx context.Context, path string, params ParameterStore) error {
	if l.names == nil {
		l.fail("SECRETS_SSM_NAMES", false, "is required with SECRETS_SSM_PATH: list the SSM parameters this function reads, e.g. DATABASE_URL,SENTRY_DSN (its IAM policy grants those alone)")
	}
	switch {
	case !strings.HasPrefix(path, "/") || !strings.HasSuffix(path, "/"):
		l.fail("SECRETS_SSM_PATH", false, `must start and end with "/", e.g. /redub/staging/`)
	case l.stage == "":
		l.fail("SECRETS_SSM_PATH", false, "cannot be checked until STAGE is valid")
	case !strings.HasPrefix(path, "/redub/"+string(l.stage)+"/"):
		l.fail("SECRETS_SSM_PATH", false, fmt.Sprintf("is %q, but STAGE=%s may read only /redub/%s/ or a path below it", path, l.stage, l.stage))
	case params == nil:
		l.fail("SECRETS_SSM_PATH", false, "is set, but no SSM parameter store was given to Load")
	}
	if len(l.errs) > 0 {
		return errors.Join(l.errs...)
	}
	values, err := params.Parameters(ctx, path, l.names)
	if err != nil {
		return &SecretsError{Path: path, Err: err}
	}
	if len(values) == 0 {
		l.warn("SECRETS_SSM_PATH: none of the SSM parameters %s exists under %s", strings.Join(l.names, ", "), path)
	}
	l.path, l.params, l.read = path, values, make(map[string]bool)
	return nil
}

// unusedParams refuses names in SECRETS_SSM_NAMES that Load never looked
// up, usually a misspelt name that leaves the real variable unset.
func (l *loader) unusedParams() {
	if l.read == nil {
		return
	}
	var unused []string
	for _, name := range l.names {
		if !l.read[name] {
			unused = append(unused, name)
		}
	}
	if len(unused) > 0 {
		l.fail("SECRETS_SSM_NAMES", false, "lists "+strings.Join(unused, ", ")+", which the config does not read")
	}
}

// execModes are pgx's QueryExecMode names. Only exec and simple_protocol
// avoid named prepared statements, which PgBouncer before 1.21 loses between
// transactions in transaction mode.
func execModes() []string {
	return []string{"exec", "cache_describe", "simple_protocol", "cache_statement", "describe_exec"}
}

func (l *loader) database(c *Config) {
	v, name, ssm := l.lookup("DATABASE_URL")
	switch {
	case v == "":
		l.missing(name, "", "")
	case postgresURLProblem(v) != "":
		l.fail(name, ssm, "is not a valid postgres URL: "+postgresURLProblem(v))
	case l.stage.deployed() && sslMode(v) != "verify-full":
		l.fail(name, ssm, l.sslReason(v))
	default:
		c.DatabaseURL = v
		if u, _ := url.Parse(v); strings.HasSuffix(u.Hostname(), ".neon.tech") && !strings.Contains(u.Hostname(), "-pooler.") {
			l.warn("DATABASE_URL: the Neon host has no -pooler; functions should use the pooled endpoint")
		}
	}

	v, name, ssm = l.lookup("DATABASE_URL_UNPOOLED")
	if v != "" {
		if p := postgresURLProblem(v); p != "" {
			l.fail(name, ssm, "is not a valid postgres URL: "+p)
		} else if l.stage.deployed() && sslMode(v) != "verify-full" {
			l.fail(name, ssm, l.sslReason(v))
		} else {
			c.DatabaseURLUnpooled = v
		}
	}

	v, name, ssm = l.lookup("DATABASE_EXEC_MODE")
	switch {
	case v == "":
		c.DatabaseExecMode = defaultExecMode
	case !slices.Contains(execModes(), v):
		l.fail(name, ssm, fmt.Sprintf("is %q, want %s", v, oneOf(execModes()...)))
	default:
		c.DatabaseExecMode = v
	}
}

// sslMode returns a postgres URL's sslmode parameter ("" when unset).
func sslMode(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Query().Get("sslmode")
}

// sslReason says why a deployed stage refuses a URL's sslmode, naming the
// mode but never the URL.
func (l *loader) sslReason(raw string) string {
	mode := sslMode(raw)
	if mode == "" {
		mode = "unset (libpq's default, prefer, falls back to plain text)"
	}
	return fmt.Sprintf("must set sslmode=verify-full when STAGE=%s, which checks the server's certificate and host name (Neon supports it); sslmode is %s", l.stage, mode)
}

// postgresURLProblem describes what is wrong with a postgres URL, or returns
// "". It never quotes the URL or url.Parse's error, which may hold part of
// the password.
func postgresURLProblem(raw string) string {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return "it does not parse as a URL (percent-encode special characters in the user name and password)"
	case u.Scheme != "postgres" && u.Scheme != "postgresql":
		return "want postgres://user:password@host[:port]/dbname or postgresql://... (the key=value form is not accepted)"
	case u.Opaque != "":
		return `want "//" after the scheme, as in postgres://user:password@host/dbname`
	case u.Host == "" && u.Query().Get("host") == "":
		return "it has no host"
	}
	return ""
}

func (l *loader) auth(c *Config) {
	deployed := l.stage.deployed()
	strict := deployed && l.needs("AUTH_SECRET", "NEXTAUTH_SECRET")
	when := "when STAGE=" + string(l.stage)

	v, name, ssm := l.lookup("AUTH_SECRET", "NEXTAUTH_SECRET")
	switch {
	case v == "" && !l.needs("AUTH_SECRET", "NEXTAUTH_SECRET"):
		// A function that declares it reads no session secret gets none.
	case v == "" && strict:
		l.missing(name, "NEXTAUTH_SECRET", when)
	case v == "":
		c.AuthSecret = DevelopmentAuthSecret
		l.warn("AUTH_SECRET is not set; using the public development secret (fine for STAGE=development only)")
	case deployed && v == DevelopmentAuthSecret:
		l.fail(name, ssm, "is the public development secret; generate a real one with `openssl rand -base64 32`")
	case deployed && utf8.RuneCountInString(v) < minAuthSecretLen:
		l.fail(name, ssm, fmt.Sprintf("is shorter than %d characters %s; generate one with `openssl rand -base64 32`", minAuthSecretLen, when))
	default:
		if utf8.RuneCountInString(v) < minAuthSecretLen {
			l.warn("%s is shorter than %d characters; staging and production will refuse it", name, minAuthSecretLen)
		}
		c.AuthSecret = v
	}

	v, name, ssm = l.lookup("AUTH_URL", "NEXTAUTH_URL")
	switch {
	case v == "" && deployed:
		l.missing(name, "NEXTAUTH_URL", when)
	case v == "":
		c.AuthURL, _ = url.Parse(defaultAuthURL)
	default:
		u, problem := parseHTTPURL(v, deployed, false)
		if problem != "" {
			l.fail(name, ssm, problem)
		}
		c.AuthURL = u
	}

	id, idName, _ := l.lookup("GOOGLE_CLIENT_ID")
	secret, secretName, _ := l.lookup("GOOGLE_CLIENT_SECRET")
	switch {
	case deployed && l.needs("GOOGLE_CLIENT_ID", "GOOGLE_CLIENT_SECRET"):
		if id == "" {
			l.missing(idName, "", when)
		}
		if secret == "" {
			l.missing(secretName, "", when)
		}
	case id == "" && secret != "":
		l.missing(idName, "", "when GOOGLE_CLIENT_SECRET is set")
	case id != "" && secret == "":
		l.missing(secretName, "", "when GOOGLE_CLIENT_ID is set")
	}
	c.GoogleClientID, c.GoogleClientSecret = id, secret

	c.SessionMaxAge = time.Duration(l.positiveInt("SESSION_MAX_AGE_DAYS", 90, 3650)) * 24 * time.Hour

	// A preview (a path below the stage's) lets anyone with its URL reach
	// dev-login, so the function that lists the code must have it.
	v, name, ssm = l.lookup("DEV_LOGIN_CODE")
	switch {
	case v == "" && l.names != nil && slices.Contains(l.names, "DEV_LOGIN_CODE"):
		l.missing(name, "", "when the function lists it in SECRETS_SSM_NAMES (a preview's dev-login)")
	case v != "" && utf8.RuneCountInString(v) < 16:
		l.fail(name, ssm, "is shorter than 16 characters; generate one with `openssl rand -hex 16`")
	}
	c.DevLoginCode = v
}

// parseHTTPURL checks that raw is an absolute http(s) URL with a host (https
// only when httpsOnly). When secret, the reason never includes url.Parse's
// error, which may quote part of the value.
func parseHTTPURL(raw string, httpsOnly, secret bool) (*url.URL, string) {
	want := "an absolute http(s) URL"
	if httpsOnly {
		want = "an absolute https URL"
	}
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if !secret && errors.As(err, &ue) {
			return nil, "is not " + want + ": " + ue.Err.Error()
		}
		return nil, "is not " + want + ": it does not parse as a URL"
	}
	switch {
	case httpsOnly && u.Scheme != "https":
		return nil, "is not " + want + ": it must start with https://"
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, "is not " + want + ": it must start with http:// or https://"
	case u.Host == "":
		return nil, "is not " + want + ": it has no host"
	}
	return u, ""
}

// Limits are the per-caller limits the API enforces.
type Limits struct {
	AuthPerMinute         int   // RATE_LIMIT_AUTH_PER_MINUTE: requests per IP per minute on the auth routes (default 10)
	APIPerMinute          int   // RATE_LIMIT_API_PER_MINUTE: requests per user per minute elsewhere (default 120)
	UploadMaxBytes        int64 // UPLOAD_MAX_BYTES: largest upload (default 2 GiB)
	UploadDailyQuotaBytes int64 // UPLOAD_DAILY_QUOTA_BYTES: bytes one user may upload per UTC day (default 20 GiB)
	ActiveJobsPerUser     int   // MAX_ACTIVE_JOBS_PER_USER: jobs one user may have queued or running (default 10)
	ActiveJobsPerAsset    int   // MAX_ACTIVE_JOBS_PER_ASSET: jobs one asset may have queued or running (default 3)
	// MediaMaxDuration (MEDIA_MAX_SECONDS) is the longest source ingest
	// accepts (default and most 4 h, MaxMediaDuration).
	MediaMaxDuration time.Duration
}

// MaxMediaDuration is the longest source the pipeline is built and
// measured for: transcode, transcribe and synthesize split it into parts
// that each fit their function's timeout, and mix (one invocation) was
// measured at this length (docs/benchmarks.md, "Mix at 4 hours").
// MEDIA_MAX_SECONDS may lower the limit, never raise it past this.
const MaxMediaDuration = 4 * time.Hour

func (l *loader) limits(c *Config) {
	c.Limits.AuthPerMinute = int(l.positiveInt("RATE_LIMIT_AUTH_PER_MINUTE", 10, 1_000_000))
	c.Limits.APIPerMinute = int(l.positiveInt("RATE_LIMIT_API_PER_MINUTE", 120, 1_000_000))
	c.Limits.UploadMaxBytes = l.positiveInt("UPLOAD_MAX_BYTES", 2<<30, 5<<40)
	c.Limits.UploadDailyQuotaBytes = l.positiveInt("UPLOAD_DAILY_QUOTA_BYTES", 20<<30, 1<<50)
	c.Limits.ActiveJobsPerUser = int(l.positiveInt("MAX_ACTIVE_JOBS_PER_USER", 10, 100_000))
	c.Limits.ActiveJobsPerAsset = int(l.positiveInt("MAX_ACTIVE_JOBS_PER_ASSET", 3, 100_000))
	c.Limits.MediaMaxDuration = time.Duration(l.positiveInt("MEDIA_MAX_SECONDS", int64(MaxMediaDuration/time.Second),
		int64(MaxMediaDuration/time.Second))) * time.Second
}

// positiveInt reads an optional whole number in [1, max].
func (l *loader) positiveInt(name string, def, max int64) int64 {
	v, name, ssm := l.lookup(name)
	if v == "" {
		return def
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 1 || n > max {
		l.fail(name, ssm, fmt.Sprintf("is %q, want a whole number from 1 to %d", v, max))
		return def
	}
	return n
}

// Models are the provider models and the default voice, each with a default.
type Models struct {
	Transcribe string // OPENAI_TRANSCRIBE_MODEL: default whisper-1
	Translate  string // OPENAI_TRANSLATE_MODEL: default gpt-4o-mini
	Speech     string // ELEVENLABS_MODEL: default eleven_multilingual_v2
	Voice      string // ELEVENLABS_VOICE: default voice id when a job names none
}

func (l *loader) models(c *Config) {
	get := func(name, def string) string {
		v, name, ssm := l.lookup(name)
		switch {
		case v == "":
			return def
		case len(v) > 100 || strings.ContainsAny(v, " \t\n/?#"):
			l.fail(name, ssm, fmt.Sprintf("is %q, not a model or voice id", v))
			return def
		}
		return v
	}
	c.Models = Models{
		Transcribe: get("OPENAI_TRANSCRIBE_MODEL", "whisper-1"),
		Translate:  get("OPENAI_TRANSLATE_MODEL", "gpt-4o-mini"),
		Speech:     get("ELEVENLABS_MODEL", "eleven_multilingual_v2"),
		Voice:      get("ELEVENLABS_VOICE", "21m00Tcm4TlvDq8ikWAM"),
	}
}

func (l *loader) providers(c *Config) {
	c.GoogleIssuerURL = l.baseURL("GOOGLE_ISSUER_URL", "https://accounts.google.com")
	c.OpenAIAPIKey, _, _ = l.lookup("OPENAI_API_KEY")
	c.OpenAIBaseURL = l.baseURL("OPENAI_BASE_URL", defaultOpenAIBaseURL)
	c.ElevenLabsAPIKey, _, _ = l.lookup("ELEVENLABS_API_KEY")
	c.ElevenLabsBaseURL = l.baseURL("ELEVENLABS_BASE_URL", defaultElevenLabsBaseURL)
}

// baseURL reads an optional API base URL, without a trailing slash so callers
// can append "/path".
func (l *loader) baseURL(name, def string) string {
	v, name, ssm := l.lookup(name)
	if v == "" {
		return def
	}
	if _, problem := parseHTTPURL(v, false, false); problem != "" {
		l.fail(name, ssm, problem)
		return ""
	}
	return strings.TrimRight(v, "/")
}

func (l *loader) storage(c *Config) {
	v, name, ssm := l.lookup("STORAGE_BUCKET")
	switch {
	case v == "":
		l.missing(name, "", "")
	case bucketProblem(v) != "":
		l.fail(name, ssm, "is not a valid S3 bucket name: "+bucketProblem(v))
	default:
		c.StorageBucket = v
	}

	v, name, ssm = l.lookup("STORAGE_REGION")
	if v == "" {
		// Lambda sets AWS_REGION; it is the SDK's variable, so only the
		// environment is consulted.
		v, name, ssm = l.env("AWS_REGION"), "AWS_REGION", false
	}
	switch {
	case v == "":
		c.StorageRegion = defaultRegion
	case !regionLike(v):
		l.fail(name, ssm, fmt.Sprintf("is %q, not an AWS region such as us-east-1", v))
	default:
		c.StorageRegion = v
	}
}

// bucketProblem describes why name is not a valid S3 general purpose bucket
// name, or returns "". See "Bucket naming rules" in the S3 user guide.
func bucketProblem(name string) string {
	if n := len(name); n < 3 || n > 63 {
		return "it must be 3 to 63 characters long"
	}
	for _, r := range name {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '.' && r != '-' {
			return "only lowercase letters, digits, '.' and '-' are allowed"
		}
	}
	first, last := name[0], name[len(name)-1]
	switch {
	case first == '.' || first == '-' || last == '.' || last == '-':
		return "it must begin and end with a letter or digit"
	case strings.Contains(name, ".."):
		return "it must not contain two adjacent periods"
	case net.ParseIP(name) != nil:
		return "it must not be formatted as an IP address"
	}
	for _, p := range []string{"xn--", "sthree-", "amzn-s3-demo-"} {
		if strings.HasPrefix(name, p) {
			return "it must not start with " + p
		}
	}
	for _, s := range []string{"-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"} {
		if strings.HasSuffix(name, s) {
			return "it must not end with " + s
		}
	}
	return ""
}

// regionLike reports whether v looks like an AWS region: lowercase words and
// digits joined by '-', such as us-east-1 or us-gov-west-1. It catches typos
// like "US East", not regions that do not exist.
func regionLike(v string) bool {
	parts := strings.Split(v, "-")
	if len(parts) < 2 {
		return false
	}
	for _, p := range parts {
		if p == "" || strings.Trim(p, "abcdefghijklmnopqrstuvwxyz0123456789") != "" {
			return false
		}
	}
	return true
}

func (l *loader) queues(c *Config) {
	for _, q := range c.Queues.vars() {
		v, name, ssm := l.lookup(q.name)
		if v == "" {
			continue
		}
		if _, problem := parseHTTPURL(v, false, false); problem != "" {
			l.fail(name, ssm, problem)
			continue
		}
		*q.url = v
	}
}

// logLevels are the accepted LOG_LEVEL values, lowest first.
func logLevels() []string { return []string{"debug", "info", "warn", "error"} }

func (l *loader) observability(c *Config) {
	v, name, ssm := l.lookup("SENTRY_DSN")
	if v != "" {
		// The DSN's user part is the project key, so it is treated as secret.
		if _, problem := parseHTTPURL(v, false, true); problem != "" {
			l.fail(name, ssm, problem)
		} else {
			c.SentryDSN = v
		}
	}

	v, name, ssm = l.lookup("LOG_LEVEL")
	switch level := strings.ToLower(v); {
	case v == "":
		c.LogLevel = defaultLogLevel
	case !slices.Contains(logLevels(), level):
		l.fail(name, ssm, fmt.Sprintf("is %q, want %s", v, oneOf(logLevels()...)))
	default:
		c.LogLevel = level
	}
}

// SlogLevel returns LogLevel as a slog.Level; info for any other value.
func (c *Config) SlogLevel() slog.Level {
	switch c.LogLevel {
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}
