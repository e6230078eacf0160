package provider_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/redub/redub/shared/provider"
)

// waits records the waits Do asks for instead of sleeping.
type waits struct {
	mu sync.Mutex
	d  []time.Duration
}

func (w *waits) sleep(ctx context.Context, d time.Duration) error {
	w.mu.Lock()
	w.d = append(w.d, d)
	w.mu.Unlock()
	return ctx.Err()
}

func (w *waits) all() []time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]time.Duration(nil), w.d...)
}

// answer is one scripted reply of the test server.
type answer struct {
	status int
	header map[string]string
	body   string
	delay  time.Duration
}

type bundle struct {
	t      *testing.T
	srv    *httptest.Server
	calls  atomic.Int32
	bodies chan string
	waits  *waits
	policy provider.Policy
}

// setup starts a server that plays script in order, then answers 200 "ok".
func setup(t *testing.T, script ...answer) *bundle {
	t.Helper()
	b := &bundle{t: t, bodies: make(chan string, 100), waits: &waits{}}
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := int(b.calls.Add(1))
		body, _ := io.ReadAll(r.Body)
		b.bodies <- string(body)
		a := answer{status: http.StatusOK, body: "ok"}
		if n <= len(script) {
			a = script[n-1]
		}
		if a.delay > 0 {
			select {
			case <-time.After(a.delay):
			case <-r.Context().Done():
				return
			}
		}
		for k, v := range a.header {
			w.Header().Set(k, v)
		}
		w.WriteHeader(a.status)
		_, _ = io.WriteString(w, a.body)
	}))
	t.Cleanup(b.srv.Close)
	b.policy = provider.Policy{Provider: "Acme", KeyVar: "ACME_API_KEY", Sleep: b.waits.sleep}
	return b
}

const secretKey = "sk-acme-0123456789abcdef0123456789"

func (b *bundle) build(ctx context.Context) func() (*http.Request, error) {
	return func() (*http.Request, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, b.srv.URL+"/v1/things", strings.NewReader(`{"n":1}`))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", "Bearer "+secretKey)
		return req, nil
	}
}

func (b *bundle) do(ctx context.Context) (string, error) {
	b.t.Helper()
	resp, err := provider.Do(ctx, b.srv.Client(), b.policy, b.build(ctx))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(b.t, err)
	return string(body), nil
}

func asError(t *testing.T, err error) *provider.Error {
	t.Helper()
	e, ok := errors.AsType[*provider.Error](err)
	require.True(t, ok, "want *provider.Error, got %T: %v", err, err)
	return e
}

func TestDoSucceedsFirstTime(t *testing.T) {
	t.Parallel()
	b := setup(t)
	body, err := b.do(t.Context())
	require.NoError(t, err)
	require.Equal(t, "ok", body)
	require.EqualValues(t, 1, b.calls.Load())
	require.Empty(t, b.waits.all())
}

func TestDoRetriesTransientStatuses(t *testing.T) {
	t.Parallel()
	for _, status := range []int{408, 429, 500, 502, 503, 504} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			t.Parallel()
			b := setup(t, answer{status: status}, answer{status: status})
			body, err := b.do(t.Context())
			require.NoError(t, err)
			require.Equal(t, "ok", body)
			require.EqualValues(t, 3, b.calls.Load())
			// build made a fresh body for every attempt.
			for range 3 {
				require.JSONEq(t, `{"n":1}`, <-b.bodies)
			}
			// Full jitter: each wait is within [0, BaseDelay*2^(n-1)].
			w := b.waits.all()
			require.Len(t, w, 2)
			require.LessOrEqual(t, w[0], 500*time.Millisecond)
			require.LessOrEqual(t, w[1], time.Second)
		})
	}
}

func TestDoHonoursRetryAfter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		header   map[string]string
		min, max time.Duration
	}{
		{"seconds", map[string]string{"Retry-After": "3"}, 3 * time.Second, 3 * time.Second},
		{"fractional seconds", map[string]string{"Retry-After": "1.25"}, 1250 * time.Millisecond, 1250 * time.Millisecond},
		{"OpenAI retry-after-ms wins", map[string]string{"Retry-After": "2", "retry-after-ms": "1500"}, 1500 * time.Millisecond, 1500 * time.Millisecond},
		// An HTTP date has whole seconds, so it lands within a second below.
		{"HTTP date", map[string]string{"Retry-After": time.Now().Add(6 * time.Second).UTC().Format(http.TimeFormat)}, 4 * time.Second, 6 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, answer{status: http.StatusTooManyRequests, header: tt.header, body: `{"error":{"message":"slow down","type":"requests","code":"rate_limit_exceeded"}}`})
			var told []time.Duration
			b.policy.OnRetry = func(attempt int, err *provider.Error, wait time.Duration) {
				require.Equal(t, 1, attempt)
				require.Equal(t, "rate_limit_exceeded", err.Code)
				told = append(told, wait)
			}
			_, err := b.do(t.Context())
			require.NoError(t, err)
			w := b.waits.all()
			require.Len(t, w, 1)
			require.GreaterOrEqual(t, w[0], tt.min)
			require.LessOrEqual(t, w[0], tt.max)
			require.Equal(t, w, told)
		})
	}
}

func TestDoDoesNotWaitOutLongRetryAfter(t *testing.T) {
	t.Parallel()
	// Longer than MaxDelay: returned at once for the caller to reschedule.
	b := setup(t, answer{status: http.StatusTooManyRequests, header: map[string]string{"Retry-After": "120"}})
	_, err := b.do(t.Context())
	e := asError(t, err)
	require.False(t, e.Permanent)
	require.Equal(t, 120*time.Second, e.RetryAfter)
	require.EqualValues(t, 1, b.calls.Load())
	require.Empty(t, b.waits.all())
	require.Contains(t, e.Error(), "retry after 2m0s")

	// Shorter than MaxDelay but past the context's deadline: the same.
	b = setup(t, answer{status: http.StatusServiceUnavailable, header: map[string]string{"Retry-After": "10"}})
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	_, err = b.do(ctx)
	e = asError(t, err)
	require.False(t, e.Permanent)
	require.Equal(t, 10*time.Second, e.RetryAfter)
	require.EqualValues(t, 1, b.calls.Load())
	require.Empty(t, b.waits.all())
}

func TestDoStopsOnPermanentErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		status int
		body   string
	}{
		{400, `{"error":{"message":"bad field","type":"invalid_request_error","code":null}}`},
		{401, `{"error":{"message":"bad key","type":"invalid_request_error","code":"invalid_api_key"}}`},
		{403, `{"error":{"message":"no","type":"invalid_request_error","code":null}}`},
		{404, `{"error":{"message":"no such model","type":"invalid_request_error","code":"model_not_found"}}`},
		{413, `payload too large`},
		{422, `{"message":"unprocessable"}`},
		{429, `{"error":{"message":"You exceeded your current quota","type":"insufficient_quota","code":"insufficient_quota"}}`},
		{405, ``},
	}
	for _, tt := range tests {
		t.Run(http.StatusText(tt.status), func(t *testing.T) {
			t.Parallel()
			b := setup(t, answer{status: tt.status, body: tt.body, header: map[string]string{"Retry-After": "1"}})
			_, err := b.do(t.Context())
			e := asError(t, err)
			require.True(t, e.Permanent)
			require.True(t, provider.Permanent(err))
			require.Equal(t, tt.status, e.Status)
			require.Equal(t, "Acme", e.Provider)
			require.Zero(t, e.RetryAfter)
			require.EqualValues(t, 1, b.calls.Load())
			require.Empty(t, b.waits.all())
		})
	}
}

func TestDoGivesUpAfterMaxAttempts(t *testing.T) {
	t.Parallel()
	fail := answer{status: http.StatusInternalServerError, body: `{"error":{"message":"The server had an error","type":"server_error","code":null}}`}
	b := setup(t, fail, fail, fail, fail, fail, fail)
	_, err := b.do(t.Context())
	e := asError(t, err)
	require.False(t, e.Permanent)
	require.Equal(t, 500, e.Status)
	require.Equal(t, "server_error", e.Code)
	require.Equal(t, 4, e.Attempts)
	require.EqualValues(t, 4, b.calls.Load())
	require.Len(t, b.waits.all(), 3)
	require.Equal(t, "Acme server error (500): The server had an error [server_error] (after 4 attempts)", e.Error())

	b = setup(t, fail, fail, fail)
	b.policy.MaxAttempts = 2
	_, err = b.do(t.Context())
	require.Equal(t, 2, asError(t, err).Attempts)
	require.EqualValues(t, 2, b.calls.Load())
}

func TestDoRetriesNetworkErrors(t *testing.T) {
	t.Parallel()
	// A port nobody listens on.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())

	w := &waits{}
	builds := 0
	_, err = provider.Do(t.Context(), nil, provider.Policy{Provider: "Acme", Sleep: w.sleep}, func() (*http.Request, error) {
		builds++
		return http.NewRequest(http.MethodGet, "http://"+addr+"/", nil)
	})
	e := asError(t, err)
	require.Zero(t, e.Status)
	require.False(t, e.Permanent)
	require.Equal(t, 4, builds)
	require.Len(t, w.all(), 3)
	var opErr *net.OpError
	require.ErrorAs(t, err, &opErr)
	require.Contains(t, e.Error(), "Acme could not be reached")
}

func TestDoRespectsContext(t *testing.T) {
	t.Parallel()
	// A slow answer is abandoned at the deadline.
	b := setup(t, answer{status: http.StatusOK, delay: 10 * time.Second})
	ctx, cancel := context.WithTimeout(t.Context(), 150*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := b.do(ctx)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Less(t, time.Since(start), 5*time.Second)
	require.False(t, provider.Permanent(err))

	// A context cancelled during a wait stops the retries and keeps the
	// last failure.
	b = setup(t, answer{status: http.StatusBadGateway}, answer{status: http.StatusBadGateway})
	ctx, cancel = context.WithCancel(t.Context())
	b.policy.Sleep = func(ctx context.Context, _ time.Duration) error {
		cancel()
		return ctx.Err()
	}
	_, err = b.do(ctx)
	require.ErrorIs(t, err, context.Canceled)
	require.Equal(t, 502, asError(t, err).Status)
	require.EqualValues(t, 1, b.calls.Load())

	// An ended context sends nothing.
	b = setup(t)
	_, err = b.do(ctx)
	require.ErrorIs(t, err, context.Canceled)
	require.EqualValues(t, 0, b.calls.Load())
}

func TestDoBuildError(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	_, err := provider.Do(t.Context(), nil, provider.Policy{}, func() (*http.Request, error) { return nil, boom })
	require.ErrorIs(t, err, boom)
}

func TestErrorNeverShowsTheKey(t *testing.T) {
	t.Parallel()
	// Providers quote the key, or part of it, back.
	b := setup(t, answer{status: http.StatusUnauthorized, body: `{"error":{"message":"Incorrect API key provided: ` + secretKey +
		` (also known as sk-ac***6789). You can find your API key at https://example.com.","type":"invalid_request_error","code":"invalid_api_key"}}`})
	_, err := b.do(t.Context())
	e := asError(t, err)
	require.True(t, e.Permanent)
	msg := e.Error()
	require.True(t, strings.HasPrefix(msg, "Acme refused the API key (401): check ACME_API_KEY: Incorrect API key provided: [redacted]"), msg)
	require.True(t, strings.HasSuffix(msg, "[invalid_api_key]"), msg)
	require.NotContains(t, msg, secretKey)
	require.NotContains(t, msg, "sk-ac")
	require.NotContains(t, msg, "6789")
	require.Contains(t, msg, "Incorrect API key provided")
}

func TestErrorText(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err  provider.Error
		want string
	}{
		{provider.Error{Provider: "OpenAI", Status: 401, KeyVar: "OPENAI_API_KEY", Permanent: true}, "OpenAI refused the API key (401): check OPENAI_API_KEY"},
		{provider.Error{Provider: "OpenAI", Status: 429, Code: "insufficient_quota", Message: "You exceeded your current quota", Permanent: true}, "OpenAI says the account is out of quota or credits (429): check the plan and billing: You exceeded your current quota [insufficient_quota]"},
		{provider.Error{Provider: "ElevenLabs", Status: 401, Code: "quota_exceeded", Permanent: true}, "ElevenLabs says the account is out of quota or credits (401): check the plan and billing [quota_exceeded]"},
		{provider.Error{Provider: "OpenAI", Status: 429, RetryAfter: 2 * time.Second, Attempts: 4}, "OpenAI rate limit hit (429) (after 4 attempts); retry after 2s"},
		{provider.Error{Provider: "OpenAI", Status: 400, Code: "invalid_value", Message: "bad language", Permanent: true}, "OpenAI rejected the request (400): bad language [invalid_value]"},
		{provider.Error{Provider: "OpenAI", Status: 200, Code: "refusal", Message: "I can't", Permanent: true}, "OpenAI gave an unusable answer (200): I can't [refusal]"},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, tt.err.Error())
	}
}

func TestRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	h := func(kv ...string) http.Header {
		out := http.Header{}
		for i := 0; i < len(kv); i += 2 {
			out.Set(kv[i], kv[i+1])
		}
		return out
	}
	require.Zero(t, provider.RetryAfter(h(), now))
	require.Equal(t, 7*time.Second, provider.RetryAfter(h("Retry-After", "7"), now))
	require.Equal(t, 250*time.Millisecond, provider.RetryAfter(h("retry-after-ms", "250"), now))
	require.Equal(t, 30*time.Second, provider.RetryAfter(h("Retry-After", now.Add(30*time.Second).Format(http.TimeFormat)), now))
	require.Zero(t, provider.RetryAfter(h("Retry-After", now.Add(-time.Minute).Format(http.TimeFormat)), now))
	require.Zero(t, provider.RetryAfter(h("Retry-After", "soon"), now))
	require.Zero(t, provider.RetryAfter(h("Retry-After", "-3"), now))
	require.Zero(t, provider.RetryAfter(h("Retry-After", "NaN"), now))
	require.Equal(t, 24*time.Hour, provider.RetryAfter(h("Retry-After", "1e30"), now))
	require.Equal(t, 7*time.Second, provider.RetryAfter(h("retry-after-ms", "x", "Retry-After", "7"), now))
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	var p provider.Policy
	require.Equal(t, 500*time.Millisecond, p.Backoff(1))
	require.Equal(t, time.Second, p.Backoff(2))
	require.Equal(t, 2*time.Second, p.Backoff(3))
	require.Equal(t, 16*time.Second, p.Backoff(6))
	require.Equal(t, 20*time.Second, p.Backoff(7))
	require.Equal(t, 20*time.Second, p.Backoff(1000))
}
