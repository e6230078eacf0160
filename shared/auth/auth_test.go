package auth_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/redub/redub/shared/auth"
	"github.com/redub/redub/shared/auth/authtest"
	"github.com/redub/redub/shared/config"
	"github.com/redub/redub/shared/httpapi"
	"github.com/redub/redub/shared/postgres"
	"github.com/redub/redub/shared/postgres/pgtest"
)

const (
	secret   = "test-secret-0123456789abcdefghijklmnop"
	httpsApp = "https://app.redub.test"
	httpApp  = "http://localhost:3000"
)

// clock is a settable Options.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// fixture is everything one test needs: a database, a provider, the auth
// parts built on them and the five routes (plus POST /things, a signed-in
// route that changes state) on one mux.
type fixture struct {
	db       *postgres.DB
	clock    *clock
	opts     auth.Options
	provider *authtest.Provider
	sessions *auth.Sessions
	users    *auth.Users
	google   *auth.Google
	mux      *http.ServeMux
}

func setup(t *testing.T, appURL string) *fixture {
	t.Helper()
	app, err := url.Parse(appURL)
	require.NoError(t, err)
	f := &fixture{
		db:       pgtest.New(t),
		clock:    &clock{t: time.Now().UTC().Truncate(time.Second)},
		provider: authtest.NewProvider(t),
	}
	f.provider.SetNow(f.clock.Now)
	f.opts = auth.Options{Secret: secret, AppURL: app, Stage: config.Development, Now: f.clock.Now}
	f.provider.Configure(&f.opts)
	f.users = auth.NewUsers(f.db)
	f.sessions, err = auth.NewSessions(f.db, f.opts)
	require.NoError(t, err)
	f.google, err = auth.NewGoogle(f.opts, f.sessions, f.users)
	require.NoError(t, err)
	dev, err := auth.NewDevLogin(f.opts, f.sessions, f.users)
	require.NoError(t, err)

	f.mux = http.NewServeMux()
	f.mux.Handle("GET /auth/google", f.google.Start())
	f.mux.Handle("GET /auth/google/callback", f.google.Callback())
	f.mux.Handle("POST /auth/logout", auth.LogoutHandler(f.sessions))
	f.mux.Handle("GET /me", f.sessions.Require(auth.MeHandler()))
	f.mux.Handle("DELETE /sessions", f.sessions.Require(auth.SignOutEverywhereHandler(f.sessions)))
	f.mux.Handle("POST /auth/dev-login", dev)
	f.mux.Handle("POST /things", f.sessions.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, ok := auth.UserFrom(r.Context())
		require.True(t, ok)
		httpapi.JSON(w, http.StatusCreated, map[string]string{"owner": u.ID.String()})
	})))
	return f
}

type option func(*http.Request)

func withCookie(c *http.Cookie) option { return func(r *http.Request) { r.AddCookie(c) } }

func withBearer(token string) option {
	return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+token) }
}

func withHeader(k, v string) option { return func(r *http.Request) { r.Header.Set(k, v) } }

// do sends a request to the mux as the app's host would receive it.
func (f *fixture) do(t *testing.T, method, target, body string, opts ...option) *httptest.ResponseRecorder {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	r := httptest.NewRequestWithContext(t.Context(), method, target, rd)
	r.Host = f.opts.AppURL.Host
	r.Header.Set("User-Agent", "auth-test/1.0")
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	for _, o := range opts {
		o(r)
	}
	w := httptest.NewRecorder()
	f.mux.ServeHTTP(w, r)
	return w
}

// start runs GET /auth/google and returns the provider URL and the
// sign-in cookie.
func (f *fixture) start(t *testing.T, query string) (string, *http.Cookie) {
	t.Helper()
	w := f.do(t, http.MethodGet, "/auth/google"+query, "")
	require.Equal(t, http.StatusFound, w.Code, w.Body.String())
	c := cookie(t, w, f.flowCookie())
	require.NotNil(t, c, "Start must set the sign-in cookie")
	return w.Header().Get("Location"), c
}

// authorize starts a sign-in and has id sign in at the provider; it returns
// the callback URL and the sign-in cookie.
func (f *fixture) authorize(t *testing.T, id authtest.Identity, query string) (*url.URL, *http.Cookie) {
	t.Helper()
	loc, flow := f.start(t, query)
	back, err := f.provider.Authorize(loc, id)
	require.NoError(t, err)
	return back, flow
}

func (f *fixture) callback(t *testing.T, back *url.URL, opts ...option) *httptest.ResponseRecorder {
	t.Helper()
	return f.do(t, http.MethodGet, back.RequestURI(), "", opts...)
}

// signIn runs the whole Google sign-in for id and returns the session cookie.
func (f *fixture) signIn(t *testing.T, id authtest.Identity) *http.Cookie {
	t.Helper()
	back, flow := f.authorize(t, id, "")
	w := f.callback(t, back, withCookie(flow))
	require.Equal(t, http.StatusFound, w.Code, w.Body.String())
	c := cookie(t, w, f.sessions.CookieName())
	require.NotNil(t, c)
	return c
}

func (f *fixture) flowCookie() string {
	if f.opts.AppURL.Scheme == "https" {
		return "__Secure-redub_oauth"
	}
	return "redub_oauth"
}

func (f *fixture) origin() string { return f.opts.AppURL.Scheme + "://" + f.opts.AppURL.Host }

func (f *fixture) count(t *testing.T, sql string, args ...any) int {
	t.Helper()
	var n int
	require.NoError(t, f.db.QueryRow(t.Context(), sql, args...).Scan(&n))
	return n
}

// cookie returns the Set-Cookie of w named name, or nil.
func cookie(t *testing.T, w *httptest.ResponseRecorder, name string) *http.Cookie {
	t.Helper()
	var found *http.Cookie
	for _, c := range w.Result().Cookies() {
		if c.Name == name {
			require.Nil(t, found, "cookie %s set twice", name)
			found = c
		}
	}
	return found
}

// requireProblem checks that w is a problem with status and code and
// returns it.
func requireProblem(t *testing.T, w *httptest.ResponseRecorder, status int, code string) httpapi.Problem {
	t.Helper()
	require.Equal(t, status, w.Code, w.Body.String())
	require.Equal(t, "application/problem+json", w.Header().Get("Content-Type"))
	var p httpapi.Problem
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &p))
	require.Equal(t, code, p.Code, p.Detail)
	return p
}
