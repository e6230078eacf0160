package ratelimit_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/redub/redub/shared/postgres"
	"github.com/redub/redub/shared/ratelimit"
)

// serve runs one request from remoteAddr through h and reports whether the
// inner handler ran.
func serve(t *testing.T, mw func(http.Handler) http.Handler, remoteAddr string) (*httptest.ResponseRecorder, bool) {
	t.Helper()
	reached := false
	h := mw(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		reached = true
		w.WriteHeader(http.StatusNoContent)
	}))
	r := httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/auth/login", nil)
	r.RemoteAddr = remoteAddr
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w, reached
}

func requireHeaders(t *testing.T, w *httptest.ResponseRecorder, limit, remaining, reset int, policy string) {
	t.Helper()
	require.Equal(t, strconv.Itoa(limit), w.Header().Get("RateLimit-Limit"))
	require.Equal(t, strconv.Itoa(remaining), w.Header().Get("RateLimit-Remaining"))
	require.Equal(t, strconv.Itoa(reset), w.Header().Get("RateLimit-Reset"))
	require.Equal(t, policy, w.Header().Get("RateLimit-Policy"))
}

// requireProblem checks w holds an RFC 9457 problem with the given status.
func requireProblem(t *testing.T, w *httptest.ResponseRecorder, status int) map[string]any {
	t.Helper()
	require.Equal(t, status, w.Code)
	require.Equal(t, "application/problem+json", w.Header().Get("Content-Type"))
	var p map[string]any
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &p))
	typ, ok := p["type"].(string)
	require.True(t, ok, "type must be a string: %v", p)
	u, err := url.Parse(typ)
	require.NoError(t, err)
	require.True(t, u.IsAbs(), "type must be an absolute URI: %q", typ)
	title, ok := p["title"].(string)
	require.True(t, ok && title != "", "title must be a non-empty string: %v", p)
	require.Equal(t, float64(status), p["status"], "status must be the HTTP status as a number")
	detail, ok := p["detail"].(string)
	require.True(t, ok && detail != "", "detail must be a non-empty string: %v", p)
	return p
}

func TestMiddlewareCountsAndRefuses(t *testing.T) {
	t.Parallel()
	s := setup(t)
	mw := ratelimit.Middleware(s.limiter, "auth:ip", 2, time.Minute, ratelimit.ClientIP, nil)

	w, reached := serve(t, mw, "203.0.113.7:4711")
	require.True(t, reached)
	require.Equal(t, http.StatusNoContent, w.Code)
	requireHeaders(t, w, 2, 1, 40, "2;w=60")
	require.Empty(t, w.Header().Get("Retry-After"))

	s.clock.Advance(10 * time.Second)
	w, reached = serve(t, mw, "203.0.113.7:4712") // another port, the same caller
	require.True(t, reached)
	requireHeaders(t, w, 2, 0, 30, "2;w=60")

	s.clock.Advance(500 * time.Millisecond)
	w, reached = serve(t, mw, "203.0.113.7:4713")
	require.False(t, reached, "a refused request must not reach the handler")
	p := requireProblem(t, w, http.StatusTooManyRequests)
	require.Equal(t, "rate_limited", p["code"])
	require.Equal(t, "/auth/login", p["instance"])
	require.Equal(t, "Too many requests: the limit is 2 per minute. Try again in 30 seconds.", p["detail"])
	require.Equal(t, "30", w.Header().Get("Retry-After"), "29.5s rounds up")
	requireHeaders(t, w, 2, 0, 30, "2;w=60")

	w, reached = serve(t, mw, "203.0.113.8:4711")
	require.True(t, reached, "another caller has its own count")
	requireHeaders(t, w, 2, 1, 30, "2;w=60")

	require.Equal(t, []int{2}, stored(t, s.db, "auth:ip:203.0.113.7"), "buckets are name:key")
}

func TestMiddlewareRetryAfterIsAtLeastOneSecond(t *testing.T) {
	t.Parallel()
	s := setup(t)
	s.clock.Set(time.Date(2031, 5, 6, 7, 8, 9, 999_000_000, time.UTC)) // 1ms before the window ends
	mw := ratelimit.Middleware(s.limiter, "api:ip", 1, 10*time.Second, ratelimit.ClientIP, nil)
	w, _ := serve(t, mw, "198.51.100.1")
	requireHeaders(t, w, 1, 0, 1, "1;w=10")
	w, _ = serve(t, mw, "198.51.100.1")
	requireProblem(t, w, http.StatusTooManyRequests)
	require.Equal(t, "1", w.Header().Get("Retry-After"))
	require.Equal(t, "Too many requests: the limit is 1 per 10 seconds. Try again in 1 second.", requireProblem(t, w, 429)["detail"])
}

func TestMiddlewareEmptyKeyIsNotLimited(t *testing.T) {
	t.Parallel()
	s := setup(t)
	key := func(r *http.Request) string { return r.Header.Get("X-User") }
	mw := ratelimit.Middleware(s.limiter, "api:user", 1, time.Minute, key, nil)
	for range 5 {
		w, reached := serve(t, mw, "203.0.113.7")
		require.True(t, reached)
		require.Equal(t, http.StatusNoContent, w.Code)
		require.Empty(t, w.Header().Get("RateLimit-Limit"))
	}
	var n int
	require.NoError(t, s.db.QueryRow(t.Context(), `SELECT count(*) FROM rate_limits`).Scan(&n))
	require.Zero(t, n)
}

func TestMiddlewareFailsOpenWhenTheDatabaseIsDown(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close()) // nothing listens there now
	db, err := postgres.New(postgres.Options{
		URL:            "postgres://redub:secret@" + addr + "/redub?sslmode=disable",
		ConnectTimeout: time.Second, AcquireTimeout: time.Second,
	})
	require.NoError(t, err)
	defer db.Close()

	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	mw := ratelimit.Middleware(ratelimit.New(db, nil), "auth:ip", 1, time.Minute, ratelimit.ClientIP, log)
	for range 2 {
		w, reached := serve(t, mw, "203.0.113.7")
		require.True(t, reached, "the request is served while the limiter is blind")
		require.Equal(t, http.StatusNoContent, w.Code)
		require.Empty(t, w.Header().Get("RateLimit-Remaining"), "no headers without a count")
	}
	var line map[string]any
	require.NoError(t, json.NewDecoder(&logs).Decode(&line))
	require.Equal(t, "WARN", line["level"])
	require.Equal(t, "auth:ip", line["limit_name"])
	require.Contains(t, line["error"], "database unavailable")
	require.NotContains(t, logs.String(), "secret")
}

func TestMiddlewareMisconfiguredAnswers500(t *testing.T) {
	t.Parallel()
	l := ratelimit.New(nil, nil)
	for _, mw := range []func(http.Handler) http.Handler{
		ratelimit.Middleware(l, "x", 0, time.Minute, ratelimit.ClientIP, nil),
		ratelimit.Middleware(l, "x", 1, 1500*time.Millisecond, ratelimit.ClientIP, nil),
		ratelimit.Middleware(nil, "x", 1, time.Minute, ratelimit.ClientIP, nil),
		ratelimit.Middleware(l, "x", 1, time.Minute, nil, nil),
	} {
		w, reached := serve(t, mw, "203.0.113.7")
		require.False(t, reached)
		requireProblem(t, w, http.StatusInternalServerError)
	}
}

func TestClientIP(t *testing.T) {
	t.Parallel()
	for remote, want := range map[string]string{
		"203.0.113.7":          "203.0.113.7", // as lambdarun sets it
		"203.0.113.7:4711":     "203.0.113.7",
		"2001:db8::1":          "2001:db8::1",
		"[2001:db8::1]:443":    "2001:db8::1",
		"[2001:db8::1]":        "2001:db8::1",
		"2001:0db8:0000::0001": "2001:db8::1", // one spelling per address
		"::ffff:203.0.113.7":   "203.0.113.7",
		"[fe80::1%eth0]:80":    "fe80::1",
		"":                     "",
		"not-an-ip":            "not-an-ip",
	} {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = remote
		r.Header.Set("X-Forwarded-For", "192.0.2.66")
		r.Header.Set("X-Real-Ip", "192.0.2.66")
		require.Equal(t, want, ratelimit.ClientIP(r), "RemoteAddr %q", remote)
	}
}
