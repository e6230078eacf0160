package main

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// limited is an API that answers 429 with Retry-After to the first calls
// and counts every call it receives, with the body each carried.
type limited struct {
	mu     sync.Mutex
	calls  int
	bodies []string
	refuse int    // how many calls get 429
	after  string // their Retry-After
}

func (l *limited) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	l.mu.Lock()
	l.calls++
	l.bodies = append(l.bodies, string(b))
	n := l.calls
	l.mu.Unlock()
	if n <= l.refuse {
		w.Header().Set("Retry-After", l.after)
		http.Error(w, `{"title":"Too Many Requests"}`, http.StatusTooManyRequests)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(`{"token":"t0k"}`))
}

func (l *limited) seen() (int, []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.calls, append([]string(nil), l.bodies...)
}

func TestCommandsWaitOutRetryAfter(t *testing.T) {
	t.Parallel()
	api := &limited{refuse: 2, after: "1"}
	srv := httptest.NewServer(api)
	defer srv.Close()
	var log bytes.Buffer
	d := &demo{api: srv.URL, out: io.Discard, client: newHTTPClient(&log)}

	began := time.Now()
	var login struct{ Token string }
	require.NoError(t, d.call(t.Context(), "POST", "/auth/dev-login", map[string]string{"email": "demo@redub.local"}, nil, &login))
	took := time.Since(began)
	require.Equal(t, "t0k", login.Token)
	calls, bodies := api.seen()
	require.Equal(t, 3, calls, "two refusals, then the call that went through")
	for _, b := range bodies {
		require.JSONEq(t, `{"email":"demo@redub.local"}`, b, "every attempt carries the whole body")
	}
	require.GreaterOrEqual(t, took, 2*time.Second, "each Retry-After of 1 s was waited out")
	require.Equal(t, 2, strings.Count(log.String(), "retrying in 1s"), log.String())
}

func TestCommandsDoNotWaitPastTheBound(t *testing.T) {
	t.Parallel()
	for name, after := range map[string]string{"too long": "3600", "missing": "", "malformed": "soon"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			api := &limited{refuse: 1, after: after}
			srv := httptest.NewServer(api)
			defer srv.Close()
			d := &demo{api: srv.URL, out: io.Discard, client: newHTTPClient(io.Discard)}
			began := time.Now()
			err := d.call(t.Context(), "POST", "/auth/dev-login", map[string]string{"email": "demo@redub.local"}, nil, nil)
			require.ErrorContains(t, err, "answered 429")
			require.Less(t, time.Since(began), time.Second, "no wait")
			calls, _ := api.seen()
			require.Equal(t, 1, calls)
		})
	}
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 2, 6, 0, 0, 0, time.UTC)
	for v, want := range map[string]time.Duration{
		"0": 0, "7": 7 * time.Second, " 2 ": 2 * time.Second,
		"Wed, 02 Dec 2026 06:00:05 GMT": 5 * time.Second,
		"Wed, 02 Dec 2026 05:59:00 GMT": 0, // in the past: now
	} {
		got, ok := parseRetryAfter(v, now)
		require.True(t, ok, v)
		require.Equal(t, want, got, v)
	}
	for _, v := range []string{"", "-1", "soon", "1.5"} {
		_, ok := parseRetryAfter(v, now)
		require.False(t, ok, v)
	}
}
