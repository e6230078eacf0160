package lambdarun_test

import (
	"bufio"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/redub/redub/shared/config"
	"github.com/redub/redub/shared/lambdarun"
)

// secretFields are the secrets a function reads and where the config puts
// each one: what `doppler run` or `op run --env-file=.env.tpl` must be able
// to provide through the process environment alone.
var secretFields = map[string]func(*config.Config) string{
	"DATABASE_URL":          func(c *config.Config) string { return c.DatabaseURL },
	"DATABASE_URL_UNPOOLED": func(c *config.Config) string { return c.DatabaseURLUnpooled },
	"AUTH_SECRET":           func(c *config.Config) string { return c.AuthSecret },
	"GOOGLE_CLIENT_ID":      func(c *config.Config) string { return c.GoogleClientID },
	"GOOGLE_CLIENT_SECRET":  func(c *config.Config) string { return c.GoogleClientSecret },
	"DEV_LOGIN_CODE":        func(c *config.Config) string { return c.DevLoginCode },
	"OPENAI_API_KEY":        func(c *config.Config) string { return c.OpenAIAPIKey },
	"ELEVENLABS_API_KEY":    func(c *config.Config) string { return c.ElevenLabsAPIKey },
	"SENTRY_DSN":            func(c *config.Config) string { return c.SentryDSN },
	"LOG_SHIP_TOKEN":        func(c *config.Config) string { return c.LogShip.Token },
}

// secretValues are distinct, valid values for every secret, marked with who
// supplied them.
func secretValues(from string) map[string]string {
	return map[string]string{
		"DATABASE_URL":          "postgres://redub:" + from + "-pw@db.example:6432/redub",
		"DATABASE_URL_UNPOOLED": "postgres://redub:" + from + "-pw@db.example:5432/redub",
		"AUTH_SECRET":           from + "-auth-secret-0123456789abcdef0123456789",
		"GOOGLE_CLIENT_ID":      from + "-client.apps.googleusercontent.com",
		"GOOGLE_CLIENT_SECRET":  from + "-google-secret",
		"DEV_LOGIN_CODE":        from + "-dev-login-code-0123456789",
		"OPENAI_API_KEY":        "sk-" + from,
		"ELEVENLABS_API_KEY":    "el-" + from,
		"SENTRY_DSN":            "https://" + from + "@o1.ingest.sentry.io/1",
		"LOG_SHIP_TOKEN":        "xaat-" + from,
	}
}

// envTplNames returns the variables .env.tpl gives an op:// reference.
func envTplNames(t *testing.T) []string {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "..", ".env.tpl"))
	require.NoError(t, err)
	defer f.Close()
	var names []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, value, ok := strings.Cut(strings.TrimSpace(sc.Text()), "=")
		if ok && !strings.HasPrefix(name, "#") && strings.HasPrefix(value, "op://") {
			names = append(names, name)
		}
	}
	require.NoError(t, sc.Err())
	return names
}

func buildFromProcess(t *testing.T) *config.Config {
	t.Helper()
	app, _, err := lambdarun.Build(context.Background(), "secrets-test", os.Getenv, io.Discard,
		func(context.Context, *lambdarun.App) (any, error) { return struct{}{}, nil })
	require.NoError(t, err)
	return app.Config
}

// TestSecretsComeFromTheProcessEnvironment is what `doppler run -- make dev`
// and `op run --env-file=.env.tpl -- make dev` rely on: with no .env.local,
// every secret is taken from the process environment, and .env.tpl names
// every one of them.
func TestSecretsComeFromTheProcessEnvironment(t *testing.T) {
	names := envTplNames(t)
	for name := range secretFields {
		require.Contains(t, names, name, ".env.tpl has no op:// reference for the secret %s", name)
	}
	for _, name := range names {
		require.Contains(t, secretFields, name, ".env.tpl names %s, which is not a secret the config reads", name)
	}

	t.Chdir(t.TempDir()) // no .env.local here
	t.Setenv("AWS_LAMBDA_FUNCTION_NAME", "")
	t.Setenv("STAGE", "development")
	t.Setenv("STORAGE_BUCKET", "redub-test")
	t.Setenv("SECRETS_SSM_PATH", "")
	t.Setenv("SECRETS_SSM_NAMES", "")
	want := secretValues("process")
	for name, v := range want {
		t.Setenv(name, v)
	}
	c := buildFromProcess(t)
	for name, field := range secretFields {
		require.Equal(t, want[name], field(c), "%s from the process environment", name)
	}
}

// TestDotEnvNeverOverridesTheEnvironment: a .env.local beside the function
// fills only what the environment leaves unset.
func TestDotEnvNeverOverridesTheEnvironment(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	fromFile := secretValues("dotenv")
	var b strings.Builder
	for name, v := range fromFile {
		b.WriteString(name + "=" + v + "\n")
	}
	b.WriteString("STORAGE_BUCKET=redub-from-file\n")
	require.NoError(t, os.WriteFile(filepath.Join(dir, ".env.local"), []byte(b.String()), 0o600))

	t.Setenv("AWS_LAMBDA_FUNCTION_NAME", "")
	t.Setenv("STAGE", "development")
	t.Setenv("SECRETS_SSM_PATH", "")
	t.Setenv("SECRETS_SSM_NAMES", "")
	t.Setenv("STORAGE_BUCKET", "") // unset: the file's value is used
	fromEnv := secretValues("process")
	for name, v := range fromEnv {
		t.Setenv(name, v)
	}
	// One secret left to the file: it is read from there.
	t.Setenv("OPENAI_API_KEY", "")

	c := buildFromProcess(t)
	for name, field := range secretFields {
		want := fromEnv[name]
		if name == "OPENAI_API_KEY" {
			want = fromFile[name]
		}
		require.Equal(t, want, field(c), "%s", name)
	}
	require.Equal(t, "redub-from-file", c.StorageBucket)
}
