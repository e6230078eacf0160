package obs_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/getsentry/sentry-go"
	"github.com/stretchr/testify/require"

	"github.com/redub/redub/shared/obs"
)

// event is the part of a Sentry event payload the tests look at.
type event struct {
	Level       string                    `json:"level"`
	Release     string                    `json:"release"`
	Environment string                    `json:"environment"`
	ServerName  string                    `json:"server_name"`
	Tags        map[string]string         `json:"tags"`
	Contexts    map[string]map[string]any `json:"contexts"`
	Exception   []struct {
		Type       string `json:"type"`
		Value      string `json:"value"`
		Stacktrace *struct {
			Frames []struct {
				Function string `json:"function"`
				Module   string `json:"module"`
			} `json:"frames"`
		} `json:"stacktrace"`
		Mechanism *struct {
			Type    string `json:"type"`
			Handled *bool  `json:"handled"`
		} `json:"mechanism"`
	} `json:"exception"`
}

// ingest is a stand-in for Sentry's ingest endpoint on 127.0.0.1.
type ingest struct {
	dsn    string
	client *http.Client
	events chan event
}

// newIngest starts an ingest server that records every event it is sent. The
// event is recorded before the response is written, so an event the SDK has
// finished sending is already in events.
func newIngest(t *testing.T) *ingest {
	t.Helper()
	in := &ingest{events: make(chan event, 16)}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/1/envelope/", func(w http.ResponseWriter, r *http.Request) {
		items, err := parseEnvelope(r.Body)
		if err != nil {
			t.Errorf("parse envelope: %v", err)
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		for _, it := range items {
			if it.typ != "event" {
				continue // e.g. client_report
			}
			var e event
			if err := json.Unmarshal(it.payload, &e); err != nil {
				t.Errorf("decode event: %v", err)
				continue
			}
			in.events <- e
		}
		_, _ = io.WriteString(w, `{"id":"00000000000000000000000000000000"}`)
	})
	// The legacy endpoint takes a bare event; current SDKs do not use it.
	mux.HandleFunc("POST /api/1/store/", func(w http.ResponseWriter, r *http.Request) {
		var e event
		if err := json.NewDecoder(r.Body).Decode(&e); err != nil {
			t.Errorf("decode event: %v", err)
		} else {
			in.events <- e
		}
		_, _ = io.WriteString(w, `{"id":"00000000000000000000000000000000"}`)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("unexpected request %s %s", r.Method, r.URL.Path)
		http.NotFound(w, r)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	in.dsn = "http://publickey@" + strings.TrimPrefix(srv.URL, "http://") + "/1"
	in.client = srv.Client()
	return in
}

// received returns the one event delivered so far, failing if there is not
// exactly one. It does not wait: the event must already be there.
func (in *ingest) received(t *testing.T) event {
	t.Helper()
	var got []event
	for {
		select {
		case e := <-in.events:
			got = append(got, e)
			continue
		default:
		}
		break
	}
	require.Len(t, got, 1, "events delivered")
	return got[0]
}

// item is one item of a Sentry envelope.
type item struct {
	typ     string
	payload []byte
}

// parseEnvelope reads a Sentry envelope: a header line, then items, each an
// item header line followed by a payload of the header's length, or up to
// the next newline when the header has no length.
// See https://develop.sentry.dev/sdk/data-model/envelopes/.
func parseEnvelope(body io.Reader) ([]item, error) {
	r := bufio.NewReader(body)
	header, err := r.ReadBytes('\n')
	if err != nil {
		return nil, fmt.Errorf("envelope header: %w", err)
	}
	if !json.Valid(bytes.TrimSpace(header)) {
		return nil, fmt.Errorf("envelope header is not JSON: %q", header)
	}
	var items []item
	for {
		line, err := r.ReadBytes('\n')
		if err == io.EOF && len(bytes.TrimSpace(line)) == 0 {
			return items, nil
		}
		if err != nil && err != io.EOF {
			return nil, fmt.Errorf("item header: %w", err)
		}
		var h struct {
			Type   string `json:"type"`
			Length *int   `json:"length"`
		}
		if err := json.Unmarshal(line, &h); err != nil {
			return nil, fmt.Errorf("item header %q: %w", line, err)
		}
		var payload []byte
		if h.Length != nil {
			payload = make([]byte, *h.Length)
			if _, err := io.ReadFull(r, payload); err != nil {
				return nil, fmt.Errorf("%s payload: %w", h.Type, err)
			}
			if b, err := r.ReadByte(); err == nil && b != '\n' {
				_ = r.UnreadByte()
			}
		} else {
			payload, err = r.ReadBytes('\n')
			if err != nil && err != io.EOF {
				return nil, fmt.Errorf("%s payload: %w", h.Type, err)
			}
		}
		items = append(items, item{typ: h.Type, payload: bytes.TrimSpace(payload)})
	}
}

// setup returns a reporter that sends to a fresh ingest server.
func setup(t *testing.T) (*obs.Reporter, *ingest) {
	t.Helper()
	in := newIngest(t)
	r, err := obs.NewReporter(obs.ReporterOptions{
		DSN:           in.dsn,
		Release:       "3f2c1ab",
		Environment:   "staging",
		ServerName:    "redub-api",
		HTTPTransport: in.client.Transport,
	})
	require.NoError(t, err)
	require.NotNil(t, r)
	t.Cleanup(r.Close)
	return r, in
}

func requestContext() context.Context {
	ctx := obs.With(context.Background(), obs.RequestID, "req-1")
	ctx = obs.With(ctx, obs.JobID, "job-1")
	return obs.With(ctx, obs.TraceID, "1-5759e988-bd862e3fe1be46a994272793")
}

func TestReporterCaptureError(t *testing.T) {
	t.Parallel()
	r, in := setup(t)

	r.CaptureError(requestContext(), fmt.Errorf("transcode job: %w", errors.New("ffmpeg exited 1")))
	require.True(t, r.Flush(5*time.Second))

	e := in.received(t)
	require.Equal(t, "error", e.Level)
	require.Equal(t, "3f2c1ab", e.Release)
	require.Equal(t, "staging", e.Environment)
	require.Equal(t, "redub-api", e.ServerName)
	require.Equal(t, "req-1", e.Tags[obs.RequestID])
	require.Equal(t, "job-1", e.Tags[obs.JobID])
	require.Equal(t, "1-5759e988-bd862e3fe1be46a994272793", e.Tags[obs.TraceID])
	require.Equal(t, map[string]any{
		obs.RequestID: "req-1",
		obs.JobID:     "job-1",
		obs.TraceID:   "1-5759e988-bd862e3fe1be46a994272793",
	}, e.Contexts["correlation"])

	require.NotEmpty(t, e.Exception)
	top := e.Exception[len(e.Exception)-1]
	require.Equal(t, "transcode job: ffmpeg exited 1", top.Value)
	require.NotNil(t, top.Stacktrace)
	frames := top.Stacktrace.Frames
	require.NotEmpty(t, frames)
	last := frames[len(frames)-1]
	require.Equal(t, "github.com/redub/redub/shared/obs_test", last.Module, "the capture site is the top frame")
	require.Equal(t, "TestReporterCaptureError", last.Function)
}

func TestReporterCapturePanic(t *testing.T) {
	t.Parallel()

	for name, tc := range map[string]struct {
		panics  func()
		value   string
		culprit string
		excType string
	}{
		"string":        {func() { panicWith("index out of range") }, "index out of range", "panicWith", "panic"},
		"error":         {func() { panicWith(errors.New("index out of range")) }, "index out of range", "panicWith", "*errors.errorString"},
		"runtime error": {func() { indexOutOfRange(3) }, "runtime error: index out of range [3] with length 1", "indexOutOfRange", "runtime.boundsError"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r, in := setup(t)

			func() {
				defer func() {
					if v := recover(); v != nil {
						r.CapturePanic(requestContext(), v)
					}
				}()
				tc.panics()
			}()
			require.True(t, r.Flush(5*time.Second))

			e := in.received(t)
			require.Equal(t, "fatal", e.Level)
			require.Equal(t, "3f2c1ab", e.Release)
			require.Equal(t, "staging", e.Environment)
			require.Equal(t, "req-1", e.Tags[obs.RequestID])
			require.Equal(t, "job-1", e.Tags[obs.JobID])

			require.NotEmpty(t, e.Exception)
			top := e.Exception[len(e.Exception)-1]
			require.Equal(t, tc.value, top.Value)
			require.Equal(t, tc.excType, top.Type)
			require.NotNil(t, top.Mechanism)
			require.NotNil(t, top.Mechanism.Handled)
			require.False(t, *top.Mechanism.Handled, "a panic is unhandled")

			// The top frame is where the panic happened, not the deferred
			// function that recovered nor obs itself.
			require.NotNil(t, top.Stacktrace)
			frames := top.Stacktrace.Frames
			require.NotEmpty(t, frames)
			last := frames[len(frames)-1]
			require.Equal(t, "github.com/redub/redub/shared/obs_test", last.Module)
			require.Equal(t, tc.culprit, last.Function)
		})
	}
}

//go:noinline
func panicWith(v any) { panic(v) }

//go:noinline
func indexOutOfRange(i int) int { return []int{0}[i] }

// TestReporterFlushDelivers guards the choice of transport: with sentry-go's
// default telemetry buffer, a Flush called shortly after a capture returned
// true before the event was sent in a few percent of captures.
func TestReporterFlushDelivers(t *testing.T) {
	t.Parallel()
	r, in := setup(t)

	for i := range 200 {
		r.CaptureError(requestContext(), fmt.Errorf("attempt %d", i))
		time.Sleep(time.Duration(i%20) * 5 * time.Microsecond) // the handler writing its response
		require.True(t, r.Flush(5*time.Second))
		require.Equal(t, fmt.Sprintf("attempt %d", i), in.received(t).Exception[0].Value)
	}
}

func TestReporterConcurrent(t *testing.T) {
	t.Parallel()
	r, in := setup(t)

	const n = 10
	done := make(chan struct{})
	for i := range n {
		go func() {
			defer func() { done <- struct{}{} }()
			ctx := obs.With(context.Background(), obs.RequestID, "req-"+strconv.Itoa(i))
			r.CaptureError(ctx, errors.New("boom"))
		}()
	}
	for range n {
		<-done
	}
	require.True(t, r.Flush(5*time.Second))

	seen := map[string]bool{}
	for range n {
		select {
		case e := <-in.events:
			seen[e.Tags[obs.RequestID]] = true
		default:
			t.Fatalf("only %d of %d events delivered by Flush", len(seen), n)
		}
	}
	require.Len(t, seen, n, "each event keeps its own request_id")
}

func TestReporterDisabled(t *testing.T) {
	t.Parallel()

	r, err := obs.NewReporter(obs.ReporterOptions{Release: "3f2c1ab"})
	require.NoError(t, err)
	require.Nil(t, r)

	ctx := requestContext()
	require.NotPanics(t, func() {
		r.CaptureError(ctx, errors.New("boom"))
		r.CapturePanic(ctx, "boom")
		require.True(t, r.Flush(time.Second))
		r.Close()
	})
}

func TestReporterNothingToCapture(t *testing.T) {
	t.Parallel()
	r, in := setup(t)

	r.CaptureError(requestContext(), nil)
	r.CapturePanic(requestContext(), nil)
	require.True(t, r.Flush(5*time.Second))
	require.Empty(t, in.events)
}

func TestNewReporterInvalidDSN(t *testing.T) {
	t.Parallel()

	for _, dsn := range []string{
		"not a url",
		"ftp://publickey@127.0.0.1/1",
		"http://127.0.0.1/1",         // no public key
		"http://publickey@127.0.0.1", // no project
	} {
		r, err := obs.NewReporter(obs.ReporterOptions{DSN: dsn})
		require.ErrorContains(t, err, "SENTRY_DSN", dsn)
		var parseErr *sentry.DsnParseError
		require.ErrorAs(t, err, &parseErr, dsn)
		require.Nil(t, r)
	}
}
