package config_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/stretchr/testify/require"

	"github.com/redub/redub/shared/config"
)

// motoSSM starts moto_server (moto 5.2, which speaks SSM's JSON API and
// encrypts SecureStrings with its own KMS) on a free 127.0.0.1 port, and
// stops its process group when the test ends.
func motoSSM(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("moto_server")
	if err != nil {
		t.Skip("moto_server is not on PATH; install it with: pip install 'moto[server]==5.2.1'")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := l.Addr().(*net.TCPAddr).Port
	require.NoError(t, l.Close())

	cmd := exec.Command(bin, "-H", "127.0.0.1", "-p", fmt.Sprint(port))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
	})
	endpoint := fmt.Sprintf("http://127.0.0.1:%d", port)
	deadline := time.Now().Add(30 * time.Second)
	for {
		res, err := http.Get(endpoint + "/moto-api/") //nolint:noctx // a readiness poll
		if err == nil {
			res.Body.Close()
			return endpoint
		}
		if time.Now().After(deadline) {
			t.Fatalf("moto_server did not listen on %s within 30 s: %s", endpoint, logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

var motoCreds = credentials.NewStaticCredentialsProvider("AKIDTEST", "secret-test", "")

// putParameter stores a SecureString the way `aws ssm put-parameter` does.
func putParameter(t *testing.T, endpoint, name, value string) {
	t.Helper()
	body, err := json.Marshal(map[string]any{"Name": name, "Value": value, "Type": "SecureString", "Overwrite": true})
	require.NoError(t, err)
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, endpoint+"/", bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "AmazonSSM.PutParameter")
	creds, err := motoCreds.Retrieve(context.Background())
	require.NoError(t, err)
	sum := sha256.Sum256(body)
	require.NoError(t, v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "ssm", "us-east-1", time.Now()))
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode, "put %s", name)
}

// The secrets path end to end against moto's SSM: the function's named
// parameters only (not its neighbours, not a preview's below the path),
// SecureStrings decrypted, and more names than one GetParameters call takes.
func TestSSMStoreAgainstMoto(t *testing.T) {
	t.Parallel()
	endpoint := motoSSM(t)
	const path = "/redub/staging/"
	values := map[string]string{
		"DATABASE_URL":         "postgres://redub:" + dbPassword + "@db.example/redub?sslmode=verify-full",
		"AUTH_SECRET":          strongSecret,
		"GOOGLE_CLIENT_ID":     "client-id",
		"GOOGLE_CLIENT_SECRET": "google-secret-not-for-media",
		"OPENAI_API_KEY":       "sk-moto",
		"SENTRY_DSN":           "https://key@o1.ingest.sentry.io/1",
	}
	for name, v := range values {
		putParameter(t, endpoint, path+name, v)
	}
	var many []string
	for i := range 12 {
		n := fmt.Sprintf("EXTRA_%02d", i)
		many = append(many, n)
		putParameter(t, endpoint, path+n, "value-"+n)
	}
	putParameter(t, endpoint, path+"pr-1/AUTH_SECRET", "a preview's secret, below the path")

	store := config.NewSSMStore(config.SSMClient{Region: "us-east-1", Endpoint: endpoint, Credentials: motoCreds})

	t.Run("more than one call, decrypted", func(t *testing.T) {
		t.Parallel()
		names := append([]string{"AUTH_SECRET", "NOT_THERE"}, many...)
		got, err := store.Parameters(context.Background(), path, names)
		require.NoError(t, err)
		require.Len(t, got, 13, "14 names, one missing: two GetParameters calls")
		require.Equal(t, strongSecret, got["AUTH_SECRET"], "SecureString decrypted")
		require.Equal(t, "value-EXTRA_11", got["EXTRA_11"])
		require.NotContains(t, got, "NOT_THERE")
	})

	t.Run("a media function's config", func(t *testing.T) {
		t.Parallel()
		env := map[string]string{
			"STAGE": "staging", "SECRETS_SSM_PATH": path, "SECRETS_SSM_NAMES": "DATABASE_URL,SENTRY_DSN",
			"STORAGE_BUCKET": "redub-staging", "AUTH_URL": "https://staging.redub.example",
		}
		c, err := config.Load(context.Background(), getenv(env), store)
		require.NoError(t, err)
		require.Equal(t, values["DATABASE_URL"], c.DatabaseURL)
		require.Equal(t, values["SENTRY_DSN"], c.SentryDSN)
		require.Empty(t, c.AuthSecret, "not listed, not read")
		require.Empty(t, c.GoogleClientSecret)
		require.NotContains(t, strings.Join(c.Warnings, "\n"), "google-secret")
	})

	t.Run("a sign-in function's config", func(t *testing.T) {
		t.Parallel()
		env := map[string]string{
			"STAGE": "staging", "SECRETS_SSM_PATH": path,
			"SECRETS_SSM_NAMES": "DATABASE_URL,SENTRY_DSN,AUTH_SECRET,GOOGLE_CLIENT_ID,GOOGLE_CLIENT_SECRET",
			"STORAGE_BUCKET":    "redub-staging", "AUTH_URL": "https://staging.redub.example",
		}
		c, err := config.Load(context.Background(), getenv(env), store)
		require.NoError(t, err)
		require.Equal(t, strongSecret, c.AuthSecret, "the stage's own, not the preview's below it")
		require.Equal(t, "google-secret-not-for-media", c.GoogleClientSecret)
		require.Empty(t, c.OpenAIAPIKey, "not listed, not read")
	})

	t.Run("a preview reads its own path", func(t *testing.T) {
		t.Parallel()
		got, err := store.Parameters(context.Background(), path+"pr-1/", []string{"AUTH_SECRET", "DATABASE_URL"})
		require.NoError(t, err)
		require.Equal(t, map[string]string{"AUTH_SECRET": "a preview's secret, below the path"}, got)
	})
}
