package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	"github.com/stretchr/testify/require"

	"github.com/redub/redub/local/stack"
	"github.com/redub/redub/shared/postgres"
	"github.com/redub/redub/shared/postgres/pgtest"
)

func root(t testing.TB) string {
	r, err := filepath.Abs("..")
	require.NoError(t, err)
	return r
}

type env struct {
	st  *stack.Stack
	db  *postgres.DB
	api string
	v   validator.Validator
	mu  *sync.Mutex
}

// start runs the real template on free ports with its own database and
// the template's settings (no queue's visibility is shortened: recovery must
// not depend on it), with extra variables.
func start(t testing.TB, extra map[string]string) *env {
	t.Helper()
	return startOpts(t, extra, stack.Options{})
}

// startOpts is start with some stack options set (ports).
func startOpts(t testing.TB, extra map[string]string, opts stack.Options) *env {
	t.Helper()
	u := pgtest.NewEmptyDatabase(t)
	vars := map[string]string{"DATABASE_URL": u.Pooled, "DATABASE_URL_UNPOOLED": u.Direct,
		"PATH": os.Getenv("PATH"), "HOME": os.Getenv("HOME"), "RATE_LIMIT_AUTH_PER_MINUTE": "1000", "RATE_LIMIT_API_PER_MINUTE": "5000"}
	for k, v := range extra {
		vars[k] = v
	}
	logs := &lockedBuffer{}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	opts.Root, opts.StateDir, opts.Getenv, opts.Out = root(t), t.TempDir(), func(k string) string { return vars[k] }, logs
	st, err := stack.Start(ctx, opts)
	require.NoError(t, err, "stack logs:\n%s", logs.String())
	t.Cleanup(func() {
		st.Stop(context.Background())
		if t.Failed() {
			t.Logf("stack logs (tail):\n%s", tail(logs.String(), 80))
		}
	})
	db, err := postgres.New(postgres.Options{URL: vars["DATABASE_URL"]})
	require.NoError(t, err)
	t.Cleanup(db.Close)
	return &env{st: st, db: db, api: st.APIURL(), v: contract(t), mu: &sync.Mutex{}}
}

func contract(t testing.TB) validator.Validator {
	spec, err := os.ReadFile(filepath.Join(root(t), "docs/openapi.yaml"))
	require.NoError(t, err)
	doc, err := libopenapi.NewDocument(spec)
	require.NoError(t, err)
	v, errs := validator.NewValidator(doc)
	require.Empty(t, errs)
	ok, verrs := v.ValidateDocument()
	require.True(t, ok, "docs/openapi.yaml is not a valid OpenAPI document: %v", verrs)
	return v
}

// response is one answer, already read and checked against the contract.
type response struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r response) JSON(t testing.TB, v any) {
	t.Helper()
	require.NoError(t, json.Unmarshal(r.Body, v), string(r.Body))
}

// call sends a request as a client would and validates the answer against
// docs/openapi.yaml.
type call struct {
	method, path string
	body         any // string, []byte or a value to encode as JSON
	token        string
	cookie       *http.Cookie
	headers      map[string]string
}

var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func (e *env) do(t testing.TB, c call) response {
	t.Helper()
	var body io.Reader
	ctype := ""
	switch b := c.body.(type) {
	case nil:
	case string:
		body, ctype = strings.NewReader(b), "application/json"
	case []byte:
		body, ctype = bytes.NewReader(b), "application/json"
	default:
		raw, err := json.Marshal(b)
		require.NoError(t, err)
		body, ctype = bytes.NewReader(raw), "application/json"
	}
	req, err := http.NewRequest(c.method, e.api+c.path, body)
	require.NoError(t, err)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if c.cookie != nil {
		req.AddCookie(c.cookie)
	}
	for k, v := range c.headers {
		req.Header.Set(k, v)
	}
	res, err := noRedirect.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	out := response{Status: res.StatusCode, Header: res.Header, Body: raw}

	// Validate the answer against the contract (a fresh body reader for the validator).
	res.Body = io.NopCloser(bytes.NewReader(raw))
	vreq, _ := http.NewRequest(c.method, "http://127.0.0.1:3000"+c.path, nil)
	e.mu.Lock()
	ok, verrs := e.v.ValidateHttpResponse(vreq, res)
	e.mu.Unlock()
	if !ok {
		msgs := make([]string, 0, len(verrs))
		for _, ve := range verrs {
			msg := ve.Message + ": " + ve.Reason
			for _, se := range ve.SchemaValidationErrors {
				msg += " [" + se.FieldPath + ": " + se.Reason + "]"
			}
			msgs = append(msgs, msg)
		}
		t.Errorf("%s %s -> %d does not match docs/openapi.yaml: %s\nbody: %s", c.method, c.path, res.StatusCode, strings.Join(msgs, "; "), raw)
	}
	if res.StatusCode >= 500 && res.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("%s %s -> %d: a server fault: %s", c.method, c.path, res.StatusCode, raw)
	}
	return out
}

// login signs a user in with the development login and returns the token.
func (e *env) login(t testing.TB, email string) (token, userID string) {
	t.Helper()
	r := e.do(t, call{method: "POST", path: "/auth/dev-login", body: map[string]string{"email": email, "name": "Test"}})
	require.Equal(t, 200, r.Status, string(r.Body))
	var got struct {
		Token string
		User  struct{ ID string }
	}
	r.JSON(t, &got)
	return got.Token, got.User.ID
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
