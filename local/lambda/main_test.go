package lambda

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/redub/redub/local/invoke"
)

// binDir holds the test functions, built once per run of the test binary.
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "redub-lambda-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// repoRoot is the directory of go.mod above the package.
func repoRoot(tb testing.TB) string {
	tb.Helper()
	dir, err := filepath.Abs(".")
	require.NoError(tb, err)
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		require.NotEqual(tb, dir, parent, "no go.mod above the package")
		dir = parent
	}
}

// riePath returns aws-lambda-rie's path, failing the test when it is missing.
func riePath(tb testing.TB) string {
	tb.Helper()
	path := filepath.Join(repoRoot(tb), ".tools", "aws-lambda-rie")
	if err := checkExecutable(path); err != nil {
		tb.Fatalf("aws-lambda-rie is missing (%v): run `make tools` to install it", err)
	}
	return path
}

var builds = map[string]func() (string, error){}

func init() {
	for name, pkg := range map[string]string{
		"fn":     "./local/lambda/testdata/fn",
		"hello":  "./local/lambda/testdata/hello",
		"health": "./functions/health",
	} {
		builds[name] = sync.OnceValues(func() (string, error) { return buildFunction(name, pkg) })
	}
}

// buildFunction builds a function for the host as the Makefile builds it for
// Lambda (CGO_ENABLED=0, -tags lambda.norpc, -trimpath, stripped).
func buildFunction(name, pkg string) (string, error) {
	out := filepath.Join(binDir, name, "bootstrap")
	root, err := filepath.Abs("../..")
	if err != nil {
		return "", err
	}
	cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-trimpath", "-ldflags=-s -w -buildid=", "-o", out, pkg)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %w\n%s", pkg, err, b)
	}
	return out, nil
}

// binary returns the path of a built test function: fn, hello or health.
func binary(tb testing.TB, name string) string {
	tb.Helper()
	path, err := builds[name]()
	require.NoError(tb, err)
	return path
}

// healthEnv is a valid configuration for functions/health.
var healthEnv = map[string]string{
	"STAGE": "staging", "DATABASE_URL": "postgres://u@db.invalid/redub?sslmode=verify-full", "STORAGE_BUCKET": "redub-staging",
	"AUTH_SECRET": "0123456789abcdef0123456789abcdef", "AUTH_URL": "https://staging.redub.dev",
	"GOOGLE_CLIENT_ID": "id", "GOOGLE_CLIENT_SECRET": "secret",
}

// logBuffer collects a Manager's log.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// lines returns the log's lines.
func (l *logBuffer) lines() []string {
	return strings.Split(strings.TrimSuffix(l.String(), "\n"), "\n")
}

// testBundle is a Manager with its log.
type testBundle struct {
	m   *Manager
	log *logBuffer
}

// setup returns a Manager running specs (Binary defaults to the fn test
// function), closed when the test ends; the log is printed if the test fails.
func setup(t *testing.T, opts Options, specs ...FunctionSpec) *testBundle {
	t.Helper()
	log := &logBuffer{}
	opts.RIE = riePath(t)
	opts.Log = log
	m := NewManager(opts)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, m.Close(ctx))
		if t.Failed() {
			t.Logf("function log:\n%s", log.String())
		}
	})
	for _, spec := range specs {
		if spec.Binary == "" {
			spec.Binary = binary(t, "fn")
		}
		require.NoError(t, m.Add(spec))
	}
	return &testBundle{m: m, log: log}
}

// call invokes function with req (a value for the fn test function).
func (b *testBundle) call(ctx context.Context, function string, req any) (invoke.Result, error) {
	payload, err := json.Marshal(req)
	if err != nil {
		return invoke.Result{}, err
	}
	return b.m.Invoke(ctx, function, payload)
}

// stats returns the counters of one function.
func (b *testBundle) stats(t *testing.T, function string) PoolStats {
	t.Helper()
	for _, s := range b.m.Stats() {
		if s.Name == function {
			return s
		}
	}
	t.Fatalf("no stats for %s", function)
	return PoolStats{}
}

// echo is a request the fn function answers with body.
func echo(body any) map[string]any { return map[string]any{"action": "echo", "body": body} }

// requireEcho checks that an echo invoke works.
func (b *testBundle) requireEcho(t *testing.T, function string) {
	t.Helper()
	res, err := b.call(t.Context(), function, echo("still there"))
	require.NoError(t, err)
	require.Empty(t, res.FunctionError)
	require.JSONEq(t, `"still there"`, string(res.Payload))
}
