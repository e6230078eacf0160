package config_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/stretchr/testify/require"

	"github.com/redub/redub/shared/config"
)

const (
	dbPassword   = "hunter2-db-password"
	strongSecret = "0123456789abcdef0123456789abcdef-strong"
)

// devEnv is the smallest valid development environment.
func devEnv() map[string]string {
	return map[string]string{
		"STAGE":          "development",
		"DATABASE_URL":   "postgres://redub:" + dbPassword + "@localhost:6432/redub",
		"STORAGE_BUCKET": "redub-dev",
	}
}

// deployedEnv is the smallest valid environment for staging or production.
func deployedEnv(stage config.Stage) map[string]string {
	return map[string]string{
		"STAGE":                string(stage),
		"DATABASE_URL":         "postgresql://redub:" + dbPassword + "@ep-cool-name-pooler.us-east-2.aws.neon.tech/redub?sslmode=verify-full",
		"AUTH_SECRET":          strongSecret,
		"AUTH_URL":             "https://" + string(stage) + ".redub.example",
		"GOOGLE_CLIENT_ID":     "client-id.apps.googleusercontent.com",
		"GOOGLE_CLIENT_SECRET": "google-client-secret",
		"STORAGE_BUCKET":       "redub-" + string(stage),
	}
}

// with returns a copy of base with changes applied; an empty value removes
// the variable.
func with(base map[string]string, changes map[string]string) map[string]string {
	m := maps.Clone(base)
	for k, v := range changes {
		if v == "" {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	return m
}

func getenv(m map[string]string) func(string) string {
	return func(name string) string { return m[name] }
}

// varErrorNames returns the Name of every *VarError joined in err.
func varErrorNames(err error) []string {
	var names []string
	var walk func(error)
	walk = func(err error) {
		if ve, ok := err.(*config.VarError); ok {
			names = append(names, ve.Name)
			return
		}
		switch e := err.(type) {
		case interface{ Unwrap() []error }:
			for _, inner := range e.Unwrap() {
				walk(inner)
			}
		case interface{ Unwrap() error }:
			walk(e.Unwrap())
		}
	}
	walk(err)
	return names
}

// fakeStore is a ParameterStore serving one map, recording the paths and
// names asked.
type fakeStore struct {
	values map[string]string
	err    error
	paths  []string
	names  [][]string
}

func (f *fakeStore) Parameters(_ context.Context, path string, names []string) (map[string]string, error) {
	f.paths = append(f.paths, path)
	f.names = append(f.names, names)
	if f.err != nil {
		return nil, f.err
	}
	out := map[string]string{}
	for _, n := range names {
		if v, ok := f.values[n]; ok {
			out[n] = v
		}
	}
	return out, nil
}

func TestLoadDevelopmentMinimal(t *testing.T) {
	t.Parallel()

	c, err := config.Load(context.Background(), getenv(devEnv()), nil)
	require.NoError(t, err)

	require.Equal(t, config.Development, c.Stage)
	require.Equal(t, "postgres://redub:"+dbPassword+"@localhost:6432/redub", c.DatabaseURL)
	require.Empty(t, c.DatabaseURLUnpooled)
	require.Equal(t, "exec", c.DatabaseExecMode)
	require.Equal(t, config.DevelopmentAuthSecret, c.AuthSecret)
	require.Equal(t, "http://localhost:3000", c.AuthURL.String())
	require.Empty(t, c.GoogleClientID)
	require.Empty(t, c.OpenAIAPIKey)
	require.Equal(t, "https://api.openai.com/v1", c.OpenAIBaseURL)
	require.Equal(t, "https://api.elevenlabs.io", c.ElevenLabsBaseURL)
	require.Equal(t, "redub-dev", c.StorageBucket)
	require.Equal(t, "us-east-1", c.StorageRegion)
	require.Empty(t, c.Queues.All())
	require.Equal(t, "info", c.LogLevel)
	require.Equal(t, slog.LevelInfo, c.SlogLevel())
	require.Empty(t, c.SecretsPath)
	require.Len(t, c.Warnings, 1)
	require.Contains(t, c.Warnings[0], "AUTH_SECRET")
}

func TestLoadDeployedMinimal(t *testing.T) {
	t.Parallel()

	for _, stage := range []config.Stage{config.Staging, config.Production} {
		t.Run(string(stage), func(t *testing.T) {
			t.Parallel()

			c, err := config.Load(context.Background(), getenv(deployedEnv(stage)), nil)
			require.NoError(t, err)
			require.Equal(t, stage, c.Stage)
			require.Equal(t, strongSecret, c.AuthSecret)
			require.Equal(t, "https://"+string(stage)+".redub.example", c.AuthURL.String())
			require.Empty(t, c.Warnings)
		})
	}
}

func TestLoadRequired(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name    string
		env     map[string]string
		missing []string
	}{
		{"no STAGE", with(devEnv(), map[string]string{"STAGE": ""}), []string{"STAGE"}},
		{"development DATABASE_URL", with(devEnv(), map[string]string{"DATABASE_URL": ""}), []string{"DATABASE_URL"}},
		{"development STORAGE_BUCKET", with(devEnv(), map[string]string{"STORAGE_BUCKET": ""}), []string{"STORAGE_BUCKET"}},
		{"development Google id without secret", with(devEnv(), map[string]string{"GOOGLE_CLIENT_ID": "id"}), []string{"GOOGLE_CLIENT_SECRET"}},
		{"development Google secret without id", with(devEnv(), map[string]string{"GOOGLE_CLIENT_SECRET": "s"}), []string{"GOOGLE_CLIENT_ID"}},
		{"empty environment", map[string]string{}, []string{"STAGE", "DATABASE_URL", "STORAGE_BUCKET"}},
		{"staging, nothing but STAGE", map[string]string{"STAGE": "staging"}, []string{
			"DATABASE_URL", "AUTH_SECRET", "AUTH_URL", "GOOGLE_CLIENT_ID", "GOOGLE_CLIENT_SECRET", "STORAGE_BUCKET",
		}},
	}
	for _, stage := range []config.Stage{config.Staging, config.Production} {
		for _, name := range []string{"DATABASE_URL", "AUTH_SECRET", "AUTH_URL", "GOOGLE_CLIENT_ID", "GOOGLE_CLIENT_SECRET", "STORAGE_BUCKET"} {
			tests = append(tests, struct {
				name    string
				env     map[string]string
				missing []string
			}{string(stage) + " " + name, with(deployedEnv(stage), map[string]string{name: ""}), []string{name}})
		}
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			c, err := config.Load(context.Background(), getenv(tt.env), nil)
			require.Error(t, err)
			require.Nil(t, c)
			require.ElementsMatch(t, tt.missing, varErrorNames(err))
		})
	}
}

func TestLoadRequiredNamesSSMParameter(t *testing.T) {
	t.Parallel()

	for _, path := range []string{"", "/redub/staging/"} {
		env := with(deployedEnv(config.Staging), map[string]string{"AUTH_SECRET": "", "SECRETS_SSM_PATH": path, "SECRETS_SSM_NAMES": "AUTH_SECRET"})
		_, err := config.Load(context.Background(), getenv(env), &fakeStore{})
		var ve *config.VarError
		require.ErrorAs(t, err, &ve)
		require.Equal(t, "AUTH_SECRET", ve.Name)
		require.Contains(t, ve.Reason, "/redub/staging/AUTH_SECRET")
	}
}

func TestLoadAliases(t *testing.T) {
	t.Parallel()

	base := with(deployedEnv(config.Production), map[string]string{"AUTH_SECRET": "", "AUTH_URL": ""})
	tests := []struct {
		name       string
		env        map[string]string
		wantSecret string
		wantURL    string
	}{
		{
			name:       "NEXTAUTH only",
			env:        with(base, map[string]string{"NEXTAUTH_SECRET": strongSecret, "NEXTAUTH_URL": "https://old.redub.example"}),
			wantSecret: strongSecret,
			wantURL:    "https://old.redub.example",
		},
		{
			name: "AUTH wins",
			env: with(base, map[string]string{
				"AUTH_SECRET": strongSecret, "NEXTAUTH_SECRET": "ignored-ignored-ignored-ignored-ignored",
				"AUTH_URL": "https://new.redub.example", "NEXTAUTH_URL": "https://old.redub.example",
			}),
			wantSecret: strongSecret,
			wantURL:    "https://new.redub.example",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			c, err := config.Load(context.Background(), getenv(tt.env), nil)
			require.NoError(t, err)
			require.Equal(t, tt.wantSecret, c.AuthSecret)
			require.Equal(t, tt.wantURL, c.AuthURL.String())
		})
	}
}

func TestLoadInvalid(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name     string
		env      map[string]string
		wantName string
	}{
		{"STAGE unknown", with(devEnv(), map[string]string{"STAGE": "prod"}), "STAGE"},
		{"STAGE wrong case", with(devEnv(), map[string]string{"STAGE": "Production"}), "STAGE"},
		{"DATABASE_URL mysql", with(devEnv(), map[string]string{"DATABASE_URL": "mysql://redub:" + dbPassword + "@localhost/redub"}), "DATABASE_URL"},
		{"DATABASE_URL key=value form", with(devEnv(), map[string]string{"DATABASE_URL": "host=localhost user=redub password=" + dbPassword}), "DATABASE_URL"},
		{"DATABASE_URL no host", with(devEnv(), map[string]string{"DATABASE_URL": "postgres://redub:" + dbPassword + "@/redub"}), "DATABASE_URL"},
		{"DATABASE_URL unparsable password", with(devEnv(), map[string]string{"DATABASE_URL": "postgres://redub:" + dbPassword + "/x@localhost/redub"}), "DATABASE_URL"},
		{"DATABASE_URL bad escape in password", with(devEnv(), map[string]string{"DATABASE_URL": "postgres://redub:" + dbPassword + "%zz@localhost/redub"}), "DATABASE_URL"},
		{"DATABASE_URL opaque", with(devEnv(), map[string]string{"DATABASE_URL": "postgres:redub:" + dbPassword + "@localhost/redub"}), "DATABASE_URL"},
		{"DATABASE_URL_UNPOOLED", with(devEnv(), map[string]string{"DATABASE_URL_UNPOOLED": "https://redub:" + dbPassword + "@localhost/redub"}), "DATABASE_URL_UNPOOLED"},
		{"DATABASE_EXEC_MODE", with(devEnv(), map[string]string{"DATABASE_EXEC_MODE": "prepared"}), "DATABASE_EXEC_MODE"},
		{"AUTH_URL not a URL", with(devEnv(), map[string]string{"AUTH_URL": "localhost:3000"}), "AUTH_URL"},
		{"AUTH_URL relative", with(devEnv(), map[string]string{"AUTH_URL": "/api/auth"}), "AUTH_URL"},
		{"AUTH_URL http in production", with(deployedEnv(config.Production), map[string]string{"AUTH_URL": "http://redub.example"}), "AUTH_URL"},
		{"NEXTAUTH_URL bad is named as set", with(deployedEnv(config.Staging), map[string]string{"AUTH_URL": "", "NEXTAUTH_URL": "ftp://redub.example"}), "NEXTAUTH_URL"},
		{"AUTH_SECRET short in staging", with(deployedEnv(config.Staging), map[string]string{"AUTH_SECRET": "short"}), "AUTH_SECRET"},
		{"AUTH_SECRET development secret in production", with(deployedEnv(config.Production), map[string]string{"AUTH_SECRET": config.DevelopmentAuthSecret}), "AUTH_SECRET"},
		{"OPENAI_BASE_URL", with(devEnv(), map[string]string{"OPENAI_BASE_URL": "api.openai.com"}), "OPENAI_BASE_URL"},
		{"ELEVENLABS_BASE_URL", with(devEnv(), map[string]string{"ELEVENLABS_BASE_URL": "ws://api.elevenlabs.io"}), "ELEVENLABS_BASE_URL"},
		{"STORAGE_BUCKET uppercase", with(devEnv(), map[string]string{"STORAGE_BUCKET": "Redub_Dev"}), "STORAGE_BUCKET"},
		{"STORAGE_BUCKET too short", with(devEnv(), map[string]string{"STORAGE_BUCKET": "ab"}), "STORAGE_BUCKET"},
		{"STORAGE_BUCKET too long", with(devEnv(), map[string]string{"STORAGE_BUCKET": strings.Repeat("a", 64)}), "STORAGE_BUCKET"},
		{"STORAGE_BUCKET leading hyphen", with(devEnv(), map[string]string{"STORAGE_BUCKET": "-redub"}), "STORAGE_BUCKET"},
		{"STORAGE_BUCKET double period", with(devEnv(), map[string]string{"STORAGE_BUCKET": "redub..dev"}), "STORAGE_BUCKET"},
		{"STORAGE_BUCKET IP address", with(devEnv(), map[string]string{"STORAGE_BUCKET": "192.168.5.4"}), "STORAGE_BUCKET"},
		{"STORAGE_BUCKET reserved prefix", with(devEnv(), map[string]string{"STORAGE_BUCKET": "xn--redub"}), "STORAGE_BUCKET"},
		{"STORAGE_REGION", with(devEnv(), map[string]string{"STORAGE_REGION": "US East"}), "STORAGE_REGION"},
		{"AWS_REGION fallback", with(devEnv(), map[string]string{"AWS_REGION": "useast1"}), "AWS_REGION"},
		{"INGEST_QUEUE_URL", with(devEnv(), map[string]string{"INGEST_QUEUE_URL": "redub-ingest"}), "INGEST_QUEUE_URL"},
		{"MIX_QUEUE_URL", with(devEnv(), map[string]string{"MIX_QUEUE_URL": "sqs://queue/mix"}), "MIX_QUEUE_URL"},
		{"SENTRY_DSN", with(devEnv(), map[string]string{"SENTRY_DSN": "key@o1.ingest.sentry.io/2"}), "SENTRY_DSN"},
		{"LOG_LEVEL", with(devEnv(), map[string]string{"LOG_LEVEL": "verbose"}), "LOG_LEVEL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			c, err := config.Load(context.Background(), getenv(tt.env), nil)
			require.Error(t, err)
			require.Nil(t, c)
			require.Equal(t, []string{tt.wantName}, varErrorNames(err))
			require.NotContains(t, err.Error(), dbPassword)
			require.NotContains(t, err.Error(), strings.TrimSuffix(dbPassword, "-password"))
		})
	}
}

func TestLoadReportsEveryProblem(t *testing.T) {
	t.Parallel()

	env := with(deployedEnv(config.Staging), map[string]string{
		"DATABASE_URL":     "mysql://x",
		"AUTH_SECRET":      "",
		"LOG_LEVEL":        "loud",
		"INGEST_QUEUE_URL": "nope",
	})
	_, err := config.Load(context.Background(), getenv(env), nil)
	require.Equal(t, []string{"DATABASE_URL", "AUTH_SECRET", "INGEST_QUEUE_URL", "LOG_LEVEL"}, varErrorNames(err))
}

func TestLoadOptionalValues(t *testing.T) {
	t.Parallel()

	env := with(devEnv(), map[string]string{
		"DATABASE_URL_UNPOOLED": "postgres://redub:pw@localhost:5432/redub",
		"DATABASE_EXEC_MODE":    "simple_protocol",
		"AUTH_URL":              "http://127.0.0.1:8080/api/auth",
		"OPENAI_API_KEY":        "sk-test",
		"OPENAI_BASE_URL":       "http://127.0.0.1:9000/v1/",
		"ELEVENLABS_API_KEY":    "el-test",
		"STORAGE_REGION":        "eu-central-1",
		"AWS_REGION":            "us-west-2",
		"INGEST_QUEUE_URL":      "http://localhost:9324/000000000000/redub-ingest",
		"MIX_QUEUE_URL":         "https://sqs.eu-central-1.amazonaws.com/123456789012/redub-mix",
		"SENTRY_DSN":            "https://publickey@o1.ingest.sentry.io/2",
		"LOG_LEVEL":             " DEBUG ",
	})
	c, err := config.Load(context.Background(), getenv(env), nil)
	require.NoError(t, err)
	require.Equal(t, "postgres://redub:pw@localhost:5432/redub", c.DatabaseURLUnpooled)
	require.Equal(t, "simple_protocol", c.DatabaseExecMode)
	require.Equal(t, "http://127.0.0.1:8080/api/auth", c.AuthURL.String())
	require.Equal(t, "sk-test", c.OpenAIAPIKey)
	require.Equal(t, "http://127.0.0.1:9000/v1", c.OpenAIBaseURL)
	require.Equal(t, "el-test", c.ElevenLabsAPIKey)
	require.Equal(t, "eu-central-1", c.StorageRegion)
	require.Equal(t, map[string]string{
		"ingest": "http://localhost:9324/000000000000/redub-ingest",
		"mix":    "https://sqs.eu-central-1.amazonaws.com/123456789012/redub-mix",
	}, c.Queues.All())
	require.Equal(t, "https://publickey@o1.ingest.sentry.io/2", c.SentryDSN)
	require.Equal(t, "debug", c.LogLevel)
	require.Equal(t, slog.LevelDebug, c.SlogLevel())
}

func TestLoadRegionFallback(t *testing.T) {
	t.Parallel()

	c, err := config.Load(context.Background(), getenv(with(devEnv(), map[string]string{"AWS_REGION": "ap-southeast-2"})), nil)
	require.NoError(t, err)
	require.Equal(t, "ap-southeast-2", c.StorageRegion)
}

func TestLoadWarnings(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name string
		env  map[string]string
		want string // a word the single warning must contain
	}{
		{"short development secret", with(devEnv(), map[string]string{"AUTH_SECRET": "short"}), "AUTH_SECRET"},
		{"Neon host without pooler", with(deployedEnv(config.Staging), map[string]string{
			"DATABASE_URL": "postgresql://redub:" + dbPassword + "@ep-cool-name.us-east-2.aws.neon.tech/redub?sslmode=verify-full",
		}), "-pooler"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			c, err := config.Load(context.Background(), getenv(tt.env), nil)
			require.NoError(t, err)
			require.Len(t, c.Warnings, 1)
			require.Contains(t, c.Warnings[0], tt.want)
			require.NotContains(t, c.Warnings[0], dbPassword)
		})
	}
}

func TestLoadSSM(t *testing.T) {
	t.Parallel()

	// The environment holds only what the SAM template sets; secrets are in SSM.
	env := map[string]string{
		"STAGE":             "staging",
		"SECRETS_SSM_PATH":  "/redub/staging/",
		"SECRETS_SSM_NAMES": "DATABASE_URL, AUTH_SECRET,AUTH_URL,GOOGLE_CLIENT_ID,GOOGLE_CLIENT_SECRET,OPENAI_API_KEY",
		"STORAGE_BUCKET":    "redub-staging",
		"AUTH_URL":          "https://staging.redub.example",
		"OPENAI_API_KEY":    "sk-from-env",
	}
	store := &fakeStore{values: map[string]string{
		"DATABASE_URL":         "postgres://redub:" + dbPassword + "@db.example/redub?sslmode=verify-full\n",
		"AUTH_SECRET":          strongSecret,
		"AUTH_URL":             "https://ignored.redub.example",
		"GOOGLE_CLIENT_ID":     "client-id",
		"GOOGLE_CLIENT_SECRET": "client-secret",
		"OPENAI_API_KEY":       "sk-from-ssm",
		"OPENAI_APIKEY":        "misspelt",
	}}

	c, err := config.Load(context.Background(), getenv(env), store)
	require.NoError(t, err)
	require.Equal(t, []string{"/redub/staging/"}, store.paths)
	require.Equal(t, [][]string{{"AUTH_SECRET", "AUTH_URL", "DATABASE_URL", "GOOGLE_CLIENT_ID", "GOOGLE_CLIENT_SECRET", "OPENAI_API_KEY"}}, store.names,
		"only the parameters SECRETS_SSM_NAMES lists are asked for")
	require.Equal(t, "/redub/staging/", c.SecretsPath)
	require.Equal(t, "postgres://redub:"+dbPassword+"@db.example/redub?sslmode=verify-full", c.DatabaseURL)
	require.Equal(t, strongSecret, c.AuthSecret)
	require.Equal(t, "client-id", c.GoogleClientID)
	require.Equal(t, "client-secret", c.GoogleClientSecret)
	require.Equal(t, "https://staging.redub.example", c.AuthURL.String(), "environment wins over SSM")
	require.Equal(t, "sk-from-env", c.OpenAIAPIKey, "environment wins over SSM")
	require.Empty(t, c.Warnings)
}

// A media function lists no session or Google secret, so staging gives it
// none and does not ask for them; without the list every secret is required.
func TestLoadSSMNamesOnlyWhatTheFunctionReads(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		"STAGE": "staging", "SECRETS_SSM_PATH": "/redub/staging/", "SECRETS_SSM_NAMES": "DATABASE_URL,SENTRY_DSN,OPENAI_API_KEY",
		"STORAGE_BUCKET": "redub-staging", "AUTH_URL": "https://staging.redub.example",
	}
	store := &fakeStore{values: map[string]string{
		"DATABASE_URL":         "postgres://redub:" + dbPassword + "@db.example/redub?sslmode=verify-full",
		"AUTH_SECRET":          strongSecret,
		"GOOGLE_CLIENT_SECRET": "client-secret",
		"OPENAI_API_KEY":       "sk-test",
	}}
	c, err := config.Load(context.Background(), getenv(env), store)
	require.NoError(t, err)
	require.Equal(t, [][]string{{"DATABASE_URL", "OPENAI_API_KEY", "SENTRY_DSN"}}, store.names)
	require.Empty(t, c.AuthSecret)
	require.Empty(t, c.GoogleClientSecret)
	require.Equal(t, "sk-test", c.OpenAIAPIKey)
	require.Equal(t, []string{"DATABASE_URL", "OPENAI_API_KEY", "SENTRY_DSN"}, c.SecretsNames)

	c, err = config.Load(context.Background(), getenv(with(env, map[string]string{"SECRETS_SSM_NAMES": "DATABASE_URL,AUTH_SECRET"})), store)
	require.NoError(t, err)
	require.Equal(t, strongSecret, c.AuthSecret)
	require.Empty(t, c.GoogleClientSecret, "listing AUTH_SECRET is not listing Google")

	_, err = config.Load(context.Background(), getenv(with(env, map[string]string{"SECRETS_SSM_NAMES": "DATABASE_URL,AUTH_SECRET,GOOGLE_CLIENT_SECRET,GOOGLE_CLIENT_ID"})), store)
	require.Equal(t, []string{"GOOGLE_CLIENT_ID"}, varErrorNames(err), "a function that lists Google needs both halves")

	_, err = config.Load(context.Background(), getenv(with(env, map[string]string{"SECRETS_SSM_NAMES": ""})), store)
	require.Equal(t, []string{"SECRETS_SSM_NAMES"}, varErrorNames(err))
}

func TestLoadSSMNamesRefused(t *testing.T) {
	t.Parallel()
	base := with(deployedEnv(config.Staging), map[string]string{"SECRETS_SSM_PATH": "/redub/staging/"})
	for name, names := range map[string]string{
		"missing":          "",
		"misspelt":         "DATABASE_URL,OPENAI_APIKEY",
		"not a name":       "DATABASE_URL,database-url",
		"the path itself":  "SECRETS_SSM_PATH",
		"the stage itself": "STAGE",
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := config.Load(context.Background(), getenv(with(base, map[string]string{"SECRETS_SSM_NAMES": names})), &fakeStore{})
			require.Contains(t, varErrorNames(err), "SECRETS_SSM_NAMES")
		})
	}
}

func TestLoadSSMBadValueNamesParameter(t *testing.T) {
	t.Parallel()

	env := with(deployedEnv(config.Production), map[string]string{"SECRETS_SSM_PATH": "/redub/production/", "SECRETS_SSM_NAMES": "DATABASE_URL", "DATABASE_URL": ""})
	store := &fakeStore{values: map[string]string{"DATABASE_URL": "mysql://redub:" + dbPassword + "@db/redub"}}

	_, err := config.Load(context.Background(), getenv(env), store)
	var ve *config.VarError
	require.ErrorAs(t, err, &ve)
	require.Equal(t, "DATABASE_URL", ve.Name)
	require.Contains(t, ve.Reason, "/redub/production/DATABASE_URL")
	require.NotContains(t, err.Error(), dbPassword)
}

// A preview stack reads its own secrets below its stage's path.
func TestLoadSecretsPathBelowTheStage(t *testing.T) {
	t.Parallel()
	store := &fakeStore{values: map[string]string{"AUTH_SECRET": strongSecret}}
	c, err := config.Load(context.Background(), getenv(with(deployedEnv(config.Development), map[string]string{
		"SECRETS_SSM_PATH": "/redub/development/pr-12/", "SECRETS_SSM_NAMES": "AUTH_SECRET", "AUTH_SECRET": ""})), store)
	require.NoError(t, err)
	require.Equal(t, []string{"/redub/development/pr-12/"}, store.paths)
	require.Equal(t, strongSecret, c.AuthSecret)
}

func TestLoadSecretsPathRefused(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name      string
		env       map[string]string
		store     config.ParameterStore
		wantNames []string
	}{
		{"another stage", with(deployedEnv(config.Staging), map[string]string{"SECRETS_SSM_PATH": "/redub/production/"}), &fakeStore{}, []string{"SECRETS_SSM_PATH"}},
		{"another stage's preview", with(deployedEnv(config.Staging), map[string]string{"SECRETS_SSM_PATH": "/redub/production/pr-1/"}), &fakeStore{}, []string{"SECRETS_SSM_PATH"}},
		{"a look-alike prefix", with(deployedEnv(config.Staging), map[string]string{"SECRETS_SSM_PATH": "/redub/staging-old/"}), &fakeStore{}, []string{"SECRETS_SSM_PATH"}},
		{"no leading slash", with(deployedEnv(config.Staging), map[string]string{"SECRETS_SSM_PATH": "redub/staging/"}), &fakeStore{}, []string{"SECRETS_SSM_PATH"}},
		{"no trailing slash", with(deployedEnv(config.Staging), map[string]string{"SECRETS_SSM_PATH": "/redub/staging"}), &fakeStore{}, []string{"SECRETS_SSM_PATH"}},
		{"no store", with(deployedEnv(config.Staging), map[string]string{"SECRETS_SSM_PATH": "/redub/staging/"}), nil, []string{"SECRETS_SSM_PATH"}},
		{"invalid stage", with(deployedEnv(config.Staging), map[string]string{"STAGE": "qa", "SECRETS_SSM_PATH": "/redub/qa/"}), &fakeStore{}, []string{"STAGE", "SECRETS_SSM_PATH"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			c, err := config.Load(context.Background(), getenv(with(tt.env, map[string]string{"SECRETS_SSM_NAMES": "DATABASE_URL"})), tt.store)
			require.Error(t, err)
			require.Nil(t, c)
			require.Equal(t, tt.wantNames, varErrorNames(err))
			if fs, ok := tt.store.(*fakeStore); ok {
				require.Empty(t, fs.paths, "the store must not be read")
			}
		})
	}
}

func TestLoadStoreError(t *testing.T) {
	t.Parallel()

	errDenied := errors.New("AccessDeniedException: not authorized")
	env := with(deployedEnv(config.Staging), map[string]string{"SECRETS_SSM_PATH": "/redub/staging/", "SECRETS_SSM_NAMES": "DATABASE_URL"})

	c, err := config.Load(context.Background(), getenv(env), &fakeStore{err: errDenied})
	require.Nil(t, c)
	require.ErrorIs(t, err, errDenied)
	var se *config.SecretsError
	require.ErrorAs(t, err, &se)
	require.Equal(t, "/redub/staging/", se.Path)
	require.Empty(t, varErrorNames(err))
}

func TestLoadNilGetenv(t *testing.T) {
	t.Parallel()

	_, err := config.Load(context.Background(), nil, nil)
	require.Error(t, err)
}

func TestWithDotEnv(t *testing.T) {
	t.Parallel()

	dir := t.TempDir()
	path := filepath.Join(dir, ".env.local")
	content := strings.Join([]string{
		"# local secrets",
		"STAGE=development",
		"export DATABASE_URL='postgres://redub:pw@localhost:6432/redub'",
		`AUTH_SECRET="from file"`,
		"STORAGE_BUCKET=redub-dev # trailing comment",
		"LOG_LEVEL=debug",
	}, "\n")
	require.NoError(t, os.WriteFile(path, []byte(content), 0o600))

	get, err := config.WithDotEnv(getenv(map[string]string{"AUTH_SECRET": "from env"}), path)
	require.NoError(t, err)
	require.Equal(t, "development", get("STAGE"))
	require.Equal(t, "postgres://redub:pw@localhost:6432/redub", get("DATABASE_URL"))
	require.Equal(t, "from env", get("AUTH_SECRET"), "environment wins over the file")
	require.Equal(t, "redub-dev", get("STORAGE_BUCKET"))
	require.Equal(t, "debug", get("LOG_LEVEL"))
	require.Empty(t, get("NOT_SET"))

	c, err := config.Load(context.Background(), get, nil)
	require.NoError(t, err)
	require.Equal(t, "from env", c.AuthSecret)
}

func TestWithDotEnvMissingFile(t *testing.T) {
	t.Parallel()

	get, err := config.WithDotEnv(getenv(map[string]string{"STAGE": "staging"}), filepath.Join(t.TempDir(), "absent.env"))
	require.NoError(t, err)
	require.Equal(t, "staging", get("STAGE"))
}

func TestWithDotEnvUnreadable(t *testing.T) {
	t.Parallel()

	_, err := config.WithDotEnv(getenv(nil), t.TempDir()) // a directory
	require.Error(t, err)
}

func TestWithDotEnvMalformed(t *testing.T) {
	t.Parallel()

	const secret = "sk-very-secret"
	tests := []struct {
		name     string
		content  string
		wantLine int
	}{
		{"no equals sign", "A=1\nJUST_A_WORD\nB=2\n", 2},
		{"no equals sign on the last line", "A=1\nB=2\nJUST_A_WORD", 3},
		{"space in name", "A=1\n\nMY KEY=" + secret + "\n", 3},
		{"bad character in name", "A=1\nKEY-NAME=" + secret + "\n", 2},
		{"empty name", "# c\n=" + secret + "\n", 2},
		{"unterminated quote", "A=1\nB=\"" + secret + "\nC=3\n", 2},
		{"after a multi-line value", "A=\"one\ntwo\"\nB=2\nBAD\n", 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			path := filepath.Join(t.TempDir(), ".env.local")
			require.NoError(t, os.WriteFile(path, []byte(tt.content), 0o600))

			_, err := config.WithDotEnv(getenv(nil), path)
			var de *config.DotEnvError
			require.ErrorAs(t, err, &de)
			require.Equal(t, path, de.Path)
			require.Equal(t, tt.wantLine, de.Line)
			require.NotContains(t, err.Error(), secret)
		})
	}
}

func TestRedacted(t *testing.T) {
	t.Parallel()

	env := with(deployedEnv(config.Production), map[string]string{
		"DATABASE_URL":          "postgres://redub:" + dbPassword + "@db-pooler.example/redub?sslmode=verify-full",
		"DATABASE_URL_UNPOOLED": "postgres://redub@db.example/redub?password=" + dbPassword + "&sslmode=verify-full",
		"OPENAI_API_KEY":        "sk-secret-openai",
		"SENTRY_DSN":            "https://sentrykey@o1.ingest.sentry.io/2",
		"TRANSCODE_QUEUE_URL":   "https://sqs.us-east-1.amazonaws.com/123456789012/redub-transcode",
	})
	c, err := config.Load(context.Background(), getenv(env), nil)
	require.NoError(t, err)

	r := c.Redacted()
	require.Equal(t, "production", r["STAGE"])
	require.Equal(t, "postgres://redub:xxxxx@db-pooler.example/redub?sslmode=verify-full", r["DATABASE_URL"])
	require.Equal(t, "postgres://redub@db.example/redub?password=xxxxx&sslmode=verify-full", r["DATABASE_URL_UNPOOLED"])
	require.Equal(t, "set", r["AUTH_SECRET"])
	require.Equal(t, "set", r["GOOGLE_CLIENT_SECRET"])
	require.Equal(t, "set", r["OPENAI_API_KEY"])
	require.Equal(t, "unset", r["ELEVENLABS_API_KEY"])
	require.Equal(t, "set", r["SENTRY_DSN"])
	require.Equal(t, "client-id.apps.googleusercontent.com", r["GOOGLE_CLIENT_ID"])
	require.Equal(t, "https://sqs.us-east-1.amazonaws.com/123456789012/redub-transcode", r["TRANSCODE_QUEUE_URL"])
	require.Empty(t, r["MIX_QUEUE_URL"])

	secrets := []string{dbPassword, strongSecret, "google-client-secret", "sk-secret-openai", "sentrykey"}
	var logged strings.Builder
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("config", "config", c)
	for _, out := range []string{fmt.Sprint(r), fmt.Sprintf("%v", c), fmt.Sprintf("%+v", c), logged.String()} {
		for _, s := range secrets {
			require.NotContains(t, out, s)
		}
	}
	require.Contains(t, logged.String(), `"STORAGE_BUCKET":"redub-production"`)
}

// fakeSSM speaks SSM's JSON API for GetParameters, serving the parameters
// it holds and recording each request.
type fakeSSM struct {
	params map[string]string
	status int
	inputs []map[string]any
	signed []string
	srv    *httptest.Server
	mu     sync.Mutex
}

func newFakeSSM(t *testing.T, status int, params map[string]string) *fakeSSM {
	f := &fakeSSM{params: params, status: status}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		var in map[string]any
		_ = json.NewDecoder(r.Body).Decode(&in)
		f.inputs = append(f.inputs, in)
		f.signed = append(f.signed, r.Header.Get("Authorization"))
		if r.Header.Get("X-Amz-Target") != "AmazonSSM.GetParameters" {
			w.WriteHeader(400)
			return
		}
		if f.status != 0 {
			w.WriteHeader(f.status)
			_, _ = w.Write([]byte(`{"__type":"com.amazonaws.ssm#ThrottlingException","message":"Rate exceeded"}`))
			return
		}
		names, _ := in["Names"].([]any)
		if len(names) > 10 {
			w.WriteHeader(400)
			_, _ = w.Write([]byte(`{"__type":"ValidationException","message":"too many names"}`))
			return
		}
		params, invalid := []map[string]string{}, []string{}
		for _, n := range names {
			name, _ := n.(string)
			if v, ok := f.params[name]; ok {
				params = append(params, map[string]string{"Name": name, "Value": v, "Type": "SecureString"})
			} else {
				invalid = append(invalid, name)
			}
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"Parameters": params, "InvalidParameters": invalid})
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeSSM) store() config.ParameterStore {
	return config.NewSSMStore(config.SSMClient{Region: "us-east-1", Endpoint: f.srv.URL,
		Credentials: credentials.NewStaticCredentialsProvider("AKID", "secret", "token")})
}

func TestSSMStore(t *testing.T) {
	t.Parallel()
	params := map[string]string{"/redub/staging/AUTH_SECRET": strongSecret, "/redub/staging/OTHER": "not asked"}
	var names []string
	for i := range 11 {
		n := fmt.Sprintf("P%02d", i)
		names = append(names, n)
		params["/redub/staging/"+n] = "v" + n
	}
	names = append(names, "AUTH_SECRET", "MISSING")
	f := newFakeSSM(t, 0, params)
	got, err := f.store().Parameters(context.Background(), "/redub/staging/", names)
	require.NoError(t, err)
	require.Len(t, got, 12)
	require.Equal(t, strongSecret, got["AUTH_SECRET"])
	require.Equal(t, "vP10", got["P10"])
	require.NotContains(t, got, "OTHER")
	require.NotContains(t, got, "MISSING")
	require.Len(t, f.inputs, 2, "13 names take two calls of at most 10")
	for i, in := range f.inputs {
		require.Equal(t, true, in["WithDecryption"])
		require.Contains(t, f.signed[i], "AWS4-HMAC-SHA256 Credential=AKID/", "requests are SigV4-signed")
		require.Contains(t, f.signed[i], "/us-east-1/ssm/aws4_request")
	}
	require.Len(t, f.inputs[0]["Names"], 10)
	require.Equal(t, []any{"/redub/staging/P10", "/redub/staging/AUTH_SECRET", "/redub/staging/MISSING"}, f.inputs[1]["Names"])
}

func TestSSMStoreError(t *testing.T) {
	t.Parallel()
	f := newFakeSSM(t, 400, nil)
	_, err := f.store().Parameters(context.Background(), "/redub/staging/", []string{"DATABASE_URL"})
	var se *config.SSMError
	require.ErrorAs(t, err, &se)
	require.Equal(t, "ThrottlingException", se.Type)
	require.Contains(t, err.Error(), "Rate exceeded")
}

func TestQueuesAll(t *testing.T) {
	t.Parallel()

	q := config.Queues{Transcribe: "https://sqs/transcribe", Synthesize: "https://sqs/synthesize"}
	got := q.All()
	require.Equal(t, map[string]string{"transcribe": "https://sqs/transcribe", "synthesize": "https://sqs/synthesize"}, got)
	require.Equal(t, []string{"synthesize", "transcribe"}, slices.Sorted(maps.Keys(got)))
}

func TestLimits(t *testing.T) {
	t.Parallel()
	c, err := config.Load(t.Context(), getenv(devEnv()), nil)
	require.NoError(t, err)
	require.Equal(t, config.Limits{AuthPerMinute: 10, APIPerMinute: 120, UploadMaxBytes: 2 << 30, UploadDailyQuotaBytes: 20 << 30,
		ActiveJobsPerUser: 10, ActiveJobsPerAsset: 3, MediaMaxDuration: 4 * time.Hour}, c.Limits)
	require.Equal(t, config.DefaultStepsPerUser, c.Pipeline.StepsPerUser)
	require.Equal(t, config.DefaultTranscodePart, c.Pipeline.TranscodePart)
	require.Equal(t, config.DefaultMixPart, c.Pipeline.MixPart)
	require.Equal(t, "https://accounts.google.com", c.GoogleIssuerURL)

	c, err = config.Load(t.Context(), getenv(with(devEnv(), map[string]string{"MIX_PART_SECONDS": "60"})), nil)
	require.NoError(t, err)
	require.Equal(t, time.Minute, c.Pipeline.MixPart)
	for _, bad := range []string{"9", "14401", "sixty"} {
		_, err = config.Load(t.Context(), getenv(with(devEnv(), map[string]string{"MIX_PART_SECONDS": bad})), nil)
		var ve *config.VarError
		require.ErrorAs(t, err, &ve, bad)
		require.Equal(t, "MIX_PART_SECONDS", ve.Name)
	}

	c, err = config.Load(t.Context(), getenv(with(devEnv(), map[string]string{"TRANSCODE_PART_SECONDS": "120"})), nil)
	require.NoError(t, err)
	require.Equal(t, 2*time.Minute, c.Pipeline.TranscodePart)
	for _, bad := range []string{"5", "901", "five"} {
		_, err = config.Load(t.Context(), getenv(with(devEnv(), map[string]string{"TRANSCODE_PART_SECONDS": bad})), nil)
		var ve *config.VarError
		require.ErrorAs(t, err, &ve, bad)
		require.Equal(t, "TRANSCODE_PART_SECONDS", ve.Name)
	}

	c, err = config.Load(t.Context(), getenv(with(devEnv(), map[string]string{"RATE_LIMIT_AUTH_PER_MINUTE": "3", "UPLOAD_MAX_BYTES": "1048576"})), nil)
	require.NoError(t, err)
	require.Equal(t, 3, c.Limits.AuthPerMinute)
	require.Equal(t, int64(1<<20), c.Limits.UploadMaxBytes)

	c, err = config.Load(t.Context(), getenv(with(devEnv(), map[string]string{"MAX_ACTIVE_JOBS_PER_USER": "4",
		"MAX_ACTIVE_JOBS_PER_ASSET": "1", "FAIR_SHARE_STEPS_PER_USER": "5"})), nil)
	require.NoError(t, err)
	require.Equal(t, 4, c.Limits.ActiveJobsPerUser)
	require.Equal(t, 1, c.Limits.ActiveJobsPerAsset)
	require.Equal(t, 5, c.Pipeline.StepsPerUser)

	// The media limit may be lowered, never raised past the 4 h the pipeline is measured for.
	c, err = config.Load(t.Context(), getenv(with(devEnv(), map[string]string{"MEDIA_MAX_SECONDS": "5400"})), nil)
	require.NoError(t, err)
	require.Equal(t, 90*time.Minute, c.Limits.MediaMaxDuration)
	c, err = config.Load(t.Context(), getenv(with(devEnv(), map[string]string{"MEDIA_MAX_SECONDS": "14400"})), nil)
	require.NoError(t, err)
	require.Equal(t, config.MaxMediaDuration, c.Limits.MediaMaxDuration)
	_, err = config.Load(t.Context(), getenv(with(devEnv(), map[string]string{"MEDIA_MAX_SECONDS": "14401"})), nil)
	require.Equal(t, []string{"MEDIA_MAX_SECONDS"}, varErrorNames(err))

	for _, name := range []string{"MAX_ACTIVE_JOBS_PER_USER", "MAX_ACTIVE_JOBS_PER_ASSET", "FAIR_SHARE_STEPS_PER_USER", "MEDIA_MAX_SECONDS"} {
		_, err = config.Load(t.Context(), getenv(with(devEnv(), map[string]string{name: "0"})), nil)
		var ve *config.VarError
		require.ErrorAs(t, err, &ve, name)
		require.Equal(t, name, ve.Name)
	}

	for _, bad := range []string{"0", "-5", "ten", "1e9"} {
		_, err = config.Load(t.Context(), getenv(with(devEnv(), map[string]string{"RATE_LIMIT_API_PER_MINUTE": bad})), nil)
		var ve *config.VarError
		require.ErrorAs(t, err, &ve, bad)
		require.Equal(t, "RATE_LIMIT_API_PER_MINUTE", ve.Name)
	}
}

func TestModels(t *testing.T) {
	t.Parallel()
	c, err := config.Load(t.Context(), getenv(devEnv()), nil)
	require.NoError(t, err)
	require.Equal(t, config.Models{Transcribe: "whisper-1", Translate: "gpt-4o-mini", Speech: "eleven_multilingual_v2", Voice: "21m00Tcm4TlvDq8ikWAM"}, c.Models)
	_, err = config.Load(t.Context(), getenv(with(devEnv(), map[string]string{"ELEVENLABS_VOICE": "a b/../c"})), nil)
	var ve *config.VarError
	require.ErrorAs(t, err, &ve)
	require.Equal(t, "ELEVENLABS_VOICE", ve.Name)
}

// Staging and production talk to Neon over TLS with the certificate and host
// name checked; development and the local stack keep plain connections.
func TestLoadDeployedRequiresVerifyFull(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"", "?sslmode=require", "?sslmode=verify-ca", "?sslmode=disable"} {
		for _, stage := range []config.Stage{config.Staging, config.Production} {
			for _, name := range []string{"DATABASE_URL", "DATABASE_URL_UNPOOLED"} {
				env := with(deployedEnv(stage), map[string]string{name: "postgres://redub:" + dbPassword + "@ep-x-pooler.us-east-2.aws.neon.tech/redub" + mode})
				_, err := config.Load(context.Background(), getenv(env), nil)
				require.Equal(t, []string{name}, varErrorNames(err), "%s %s%s", stage, name, mode)
				require.Contains(t, err.Error(), "sslmode=verify-full")
				require.NotContains(t, err.Error(), dbPassword)
			}
		}
	}
	c, err := config.Load(context.Background(), getenv(with(devEnv(), map[string]string{"DATABASE_URL": "postgres://redub@127.0.0.1:6432/redub?sslmode=disable"})), nil)
	require.NoError(t, err, "development is unchanged")
	require.Contains(t, c.DatabaseURL, "sslmode=disable")
}

func TestLoadSessionMaxAge(t *testing.T) {
	t.Parallel()
	c, err := config.Load(context.Background(), getenv(devEnv()), nil)
	require.NoError(t, err)
	require.Equal(t, 90*24*time.Hour, c.SessionMaxAge, "default 90 days")

	c, err = config.Load(context.Background(), getenv(with(devEnv(), map[string]string{"SESSION_MAX_AGE_DAYS": "7"})), nil)
	require.NoError(t, err)
	require.Equal(t, 7*24*time.Hour, c.SessionMaxAge)

	for _, bad := range []string{"0", "-1", "90d", "3651"} {
		_, err = config.Load(context.Background(), getenv(with(devEnv(), map[string]string{"SESSION_MAX_AGE_DAYS": bad})), nil)
		require.Equal(t, []string{"SESSION_MAX_AGE_DAYS"}, varErrorNames(err), bad)
	}
}

func TestLoadDevLoginCode(t *testing.T) {
	t.Parallel()
	preview := with(devEnv(), map[string]string{"SECRETS_SSM_PATH": "/redub/development/pr-7/", "SECRETS_SSM_NAMES": "AUTH_SECRET,DEV_LOGIN_CODE"})
	_, err := config.Load(context.Background(), getenv(preview), &fakeStore{values: map[string]string{"AUTH_SECRET": strongSecret}})
	require.Equal(t, []string{"DEV_LOGIN_CODE"}, varErrorNames(err), "a preview's dev-login needs its code")

	_, err = config.Load(context.Background(), getenv(preview), &fakeStore{values: map[string]string{"DEV_LOGIN_CODE": "short"}})
	require.Equal(t, []string{"DEV_LOGIN_CODE"}, varErrorNames(err))

	c, err := config.Load(context.Background(), getenv(preview), &fakeStore{values: map[string]string{"DEV_LOGIN_CODE": "0123456789abcdef0123"}})
	require.NoError(t, err)
	require.Equal(t, "0123456789abcdef0123", c.DevLoginCode)

	c, err = config.Load(context.Background(), getenv(devEnv()), nil)
	require.NoError(t, err)
	require.Empty(t, c.DevLoginCode, "make dev needs no code")
}
