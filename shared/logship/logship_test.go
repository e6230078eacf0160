package logship_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/klauspost/compress/snappy"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protowire"

	localsqs "github.com/redub/redub/local/sqs"
	"github.com/redub/redub/shared/lambdarun"
	"github.com/redub/redub/shared/logship"
	"github.com/redub/redub/shared/obs"
)

// jobLines writes what a step's function logs for one job, with the real
// logger, and returns the lines as CloudWatch holds them (plus Lambda's own
// REPORT line, which is not ours).
func jobLines(t *testing.T) []string {
	t.Helper()
	var buf bytes.Buffer
	log := obs.NewLogger(&buf, slog.LevelInfo).With(obs.Function, "TranscodeFunction")
	ctx := obs.With(context.Background(), obs.RequestID, "req-7")
	ctx = obs.With(ctx, obs.JobID, "0b5c6a1e-8f0e-4c1e-9a55-3f2d8d1e7b42")
	ctx = obs.With(ctx, obs.Step, "transcode")
	ctx = obs.With(ctx, obs.TraceID, "1-674a1b2c-0a1b2c3d4e5f60718293a4b5")
	log.InfoContext(ctx, "step started", "attempt", 1)
	log.ErrorContext(ctx, "ffmpeg failed", "error", "exit status 1")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	require.Len(t, lines, 2)
	return append(lines, "REPORT RequestId: req-7 Duration: 812.44 ms\tBilled Duration: 813 ms")
}

// subscriptionEvent wraps messages as CloudWatch Logs delivers them to a
// subscribed function: base64 of gzip of the JSON document.
func subscriptionEvent(t *testing.T, messages []string) []byte {
	t.Helper()
	type logEvent struct {
		ID        string `json:"id"`
		Timestamp int64  `json:"timestamp"`
		Message   string `json:"message"`
	}
	doc := map[string]any{"messageType": "DATA_MESSAGE", "owner": "123456789012",
		"logGroup": "/aws/lambda/redub-staging/TranscodeFunction", "logStream": "2026/12/02/[live]abc",
		"subscriptionFilters": []string{"TranscodeLogShipping"}}
	var evs []logEvent
	for i, m := range messages {
		evs = append(evs, logEvent{ID: strings.Repeat("3", 20) + string(rune('0'+i)), Timestamp: time.Now().UnixMilli(), Message: m + "\n"})
	}
	doc["logEvents"] = evs
	raw, err := json.Marshal(doc)
	require.NoError(t, err)
	var gz bytes.Buffer
	w := gzip.NewWriter(&gz)
	_, _ = w.Write(raw)
	require.NoError(t, w.Close())
	ev, _ := json.Marshal(map[string]any{"awslogs": map[string]string{"data": base64.StdEncoding.EncodeToString(gz.Bytes())}})
	return ev
}

// axiom is an in-process Axiom ingest endpoint: NDJSON to
// /v1/datasets/{dataset}/ingest with a bearer token. While down it answers 503.
type axiom struct {
	mu    sync.Mutex
	lines []map[string]any
	down  atomic.Bool
	tries atomic.Int32
}

func (a *axiom) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.tries.Add(1)
	if a.down.Load() {
		http.Error(w, `{"message":"service unavailable"}`, http.StatusServiceUnavailable)
		return
	}
	if r.Method != http.MethodPost || r.URL.Path != "/v1/datasets/redub-logs/ingest" || r.Header.Get("Authorization") != "Bearer xaat-test" ||
		r.Header.Get("Content-Type") != "application/x-ndjson" {
		http.Error(w, `{"message":"bad request"}`, http.StatusBadRequest)
		return
	}
	sc := bufio.NewScanner(r.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var got []map[string]any
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			http.Error(w, `{"message":"not ndjson"}`, http.StatusBadRequest)
			return
		}
		got = append(got, m)
	}
	a.mu.Lock()
	a.lines = append(a.lines, got...)
	a.mu.Unlock()
	_ = json.NewEncoder(w).Encode(map[string]any{"ingested": len(got), "failed": 0})
}

func (a *axiom) received() []map[string]any {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]map[string]any(nil), a.lines...)
}

// loki is an in-process Loki push endpoint taking both of its formats.
type loki struct {
	mu      sync.Mutex
	streams map[string][]string // label string -> lines
	format  string              // the Content-Type last seen
}

func (l *loki) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/loki/api/v1/push" {
		http.NotFound(w, r)
		return
	}
	body, _ := io.ReadAll(r.Body)
	got := map[string][]string{}
	switch r.Header.Get("Content-Type") {
	case "application/json":
		var push struct {
			Streams []struct {
				Stream map[string]string `json:"stream"`
				Values [][2]string       `json:"values"`
			} `json:"streams"`
		}
		if err := json.Unmarshal(body, &push); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		for _, s := range push.Streams {
			key := "{function=\"" + s.Stream["function"] + "\", level=\"" + s.Stream["level"] + "\", stage=\"" + s.Stream["stage"] + "\"}"
			if len(s.Stream) != 3 {
				key = "unexpected labels"
			}
			for _, v := range s.Values {
				got[key] = append(got[key], v[1])
			}
		}
	case "application/x-protobuf":
		raw, err := snappy.Decode(nil, body)
		if err != nil {
			http.Error(w, "not snappy", http.StatusBadRequest)
			return
		}
		if err := decodePush(raw, got); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
	default:
		http.Error(w, "unsupported content type", http.StatusUnsupportedMediaType)
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.format = r.Header.Get("Content-Type")
	if l.streams == nil {
		l.streams = map[string][]string{}
	}
	for k, v := range got {
		l.streams[k] = append(l.streams[k], v...)
	}
	w.WriteHeader(http.StatusNoContent)
}

// decodePush reads logproto.PushRequest field by field: streams (1) of
// labels (1) and entries (2), each entry a timestamp (1) and a line (2).
func decodePush(b []byte, into map[string][]string) error {
	fields := func(b []byte, fn func(num protowire.Number, v []byte) error) error {
		for len(b) > 0 {
			num, typ, n := protowire.ConsumeTag(b)
			if n < 0 {
				return errors.New("bad tag")
			}
			b = b[n:]
			if typ != protowire.BytesType {
				n = protowire.ConsumeFieldValue(num, typ, b)
				if n < 0 {
					return errors.New("bad field")
				}
				b = b[n:]
				continue
			}
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return errors.New("bad bytes")
			}
			b = b[n:]
			if err := fn(num, v); err != nil {
				return err
			}
		}
		return nil
	}
	return fields(b, func(num protowire.Number, stream []byte) error {
		if num != 1 {
			return nil
		}
		var labels string
		var lines []string
		err := fields(stream, func(num protowire.Number, v []byte) error {
			switch num {
			case 1:
				labels = string(v)
			case 2:
				return fields(v, func(num protowire.Number, v []byte) error {
					if num == 2 {
						lines = append(lines, string(v))
					}
					return nil
				})
			}
			return nil
		})
		into[labels] = append(into[labels], lines...)
		return err
	})
}

func build(t *testing.T, env map[string]string) func(context.Context, json.RawMessage) (any, error) {
	t.Helper()
	base := map[string]string{"STAGE": "development", "DATABASE_URL": "postgres://redub@127.0.0.1:1/redub?sslmode=disable",
		"STORAGE_BUCKET": "redub-test", "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local", "AWS_REGION": "us-east-1"}
	for k, v := range env {
		base[k] = v
	}
	_, h, err := lambdarun.Build(t.Context(), "LogShipperFunction", func(k string) string { return base[k] }, io.Discard,
		func(ctx context.Context, app *lambdarun.App) (any, error) { return logship.New(ctx, app) })
	require.NoError(t, err)
	return h.(func(context.Context, json.RawMessage) (any, error))
}

func TestAJobsLinesArriveWithTheirIDs(t *testing.T) {
	t.Parallel()
	lines := jobLines(t)
	ev := subscriptionEvent(t, lines)

	t.Run("axiom", func(t *testing.T) {
		t.Parallel()
		fake := &axiom{}
		srv := httptest.NewServer(fake)
		t.Cleanup(srv.Close)
		h := build(t, map[string]string{"LOG_SHIP_DESTINATION": "axiom", "LOG_SHIP_URL": srv.URL, "LOG_SHIP_DATASET": "redub-logs", "LOG_SHIP_TOKEN": "xaat-test"})
		_, err := h(t.Context(), ev)
		require.NoError(t, err)
		got := fake.received()
		require.Len(t, got, 2, "our two JSON lines, not Lambda's REPORT line")
		for _, m := range got {
			require.Equal(t, "req-7", m["request_id"])
			require.Equal(t, "0b5c6a1e-8f0e-4c1e-9a55-3f2d8d1e7b42", m["job_id"])
			require.Equal(t, "transcode", m["step"])
			require.Equal(t, "1-674a1b2c-0a1b2c3d4e5f60718293a4b5", m["trace_id"])
			require.Equal(t, "TranscodeFunction", m["function"])
			require.Equal(t, "development", m["stage"])
			require.NotEmpty(t, m["_time"])
		}
		require.Equal(t, "ffmpeg failed", got[1]["msg"])
		require.Equal(t, "ERROR", got[1]["level"])
	})
	for _, format := range []string{"protobuf", "json"} {
		t.Run("loki "+format, func(t *testing.T) {
			t.Parallel()
			fake := &loki{}
			srv := httptest.NewServer(fake)
			t.Cleanup(srv.Close)
			h := build(t, map[string]string{"LOG_SHIP_DESTINATION": "loki", "LOG_SHIP_URL": srv.URL, "LOG_SHIP_LOKI_FORMAT": format})
			_, err := h(t.Context(), ev)
			require.NoError(t, err)
			fake.mu.Lock()
			defer fake.mu.Unlock()
			want := map[string][]string{
				`{function="TranscodeFunction", level="info", stage="development"}`:  {lines[0]},
				`{function="TranscodeFunction", level="error", stage="development"}`: {lines[1]},
			}
			require.Equal(t, want, fake.streams, "labels are stage, function and level only; the ids stay in the line")
			require.Contains(t, fake.streams[`{function="TranscodeFunction", level="info", stage="development"}`][0], `"job_id":"0b5c6a1e-8f0e-4c1e-9a55-3f2d8d1e7b42"`)
			if format == "protobuf" {
				require.Equal(t, "application/x-protobuf", fake.format)
			}
		})
	}
}

// TestADownDestinationLosesNothing: Axiom answers 503; the batch goes to the
// log-shipping queue (the local SQS stand-in), is handed back while Axiom is
// still down, and arrives once it is up again.
func TestADownDestinationLosesNothing(t *testing.T) {
	t.Parallel()
	server, err := localsqs.StartServer(t.Context(), localsqs.ServerOptions{ToolsDir: "../../.tools", Log: io.Discard})
	if errors.Is(err, localsqs.ErrNotInstalled) {
		t.Skip(err)
	}
	require.NoError(t, err)
	t.Cleanup(func() { _ = server.Stop(context.Background()) })
	client := localsqs.NewClient(server.Endpoint(), server.Region())
	qs, err := localsqs.EnsureQueues(t.Context(), client, []localsqs.QueueSpec{
		{Name: "LogShipQueue", VisibilityTimeout: 360 * time.Second, DeadLetter: "LogShipDeadLetterQueue", MaxReceiveCount: 5},
		{Name: "LogShipDeadLetterQueue"},
	})
	require.NoError(t, err)
	q := qs["LogShipQueue"]

	fake := &axiom{}
	fake.down.Store(true)
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	h := build(t, map[string]string{"LOG_SHIP_DESTINATION": "axiom", "LOG_SHIP_URL": srv.URL, "LOG_SHIP_DATASET": "redub-logs",
		"LOG_SHIP_TOKEN": "xaat-test", "LOG_SHIP_QUEUE_URL": q.URL, "AWS_ENDPOINT_URL_SQS": server.Endpoint()})

	lines := jobLines(t)
	_, err = h(t.Context(), subscriptionEvent(t, lines))
	require.NoError(t, err, "a refused batch is queued, not an error for CloudWatch Logs")
	require.GreaterOrEqual(t, fake.tries.Load(), int32(3), "tried more than once before queueing")
	require.Empty(t, fake.received())

	receive := func() sqstypes.Message {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for time.Now().Before(deadline) {
			out, err := client.ReceiveMessage(t.Context(), &sqs.ReceiveMessageInput{QueueUrl: &q.URL, MaxNumberOfMessages: 1, WaitTimeSeconds: 2,
				MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameAll}})
			require.NoError(t, err)
			if len(out.Messages) == 1 {
				return out.Messages[0]
			}
		}
		t.Fatal("the refused batch never came back from the queue")
		return sqstypes.Message{}
	}
	// What the event source mapping would pass the function.
	invoke := func(m sqstypes.Message) events.SQSEventResponse {
		t.Helper()
		attrs := map[string]string{}
		for k, v := range m.Attributes {
			attrs[k] = v
		}
		ev, _ := json.Marshal(events.SQSEvent{Records: []events.SQSMessage{{MessageId: *m.MessageId, ReceiptHandle: *m.ReceiptHandle,
			Body: *m.Body, Attributes: attrs, EventSource: "aws:sqs", EventSourceARN: q.ARN}}})
		res, err := h(t.Context(), ev)
		require.NoError(t, err)
		return res.(events.SQSEventResponse)
	}

	m := receive()
	require.Len(t, invoke(m).BatchItemFailures, 1, "still down: handed back")
	require.Empty(t, fake.received())

	fake.down.Store(false)
	m = receive() // after the hand-back's backoff
	require.Empty(t, invoke(m).BatchItemFailures)
	_, err = client.DeleteMessage(t.Context(), &sqs.DeleteMessageInput{QueueUrl: &q.URL, ReceiptHandle: m.ReceiptHandle})
	require.NoError(t, err)

	got := fake.received()
	require.Len(t, got, 2, "every line arrived, once")
	for i, m := range got {
		require.Equal(t, "0b5c6a1e-8f0e-4c1e-9a55-3f2d8d1e7b42", m["job_id"])
		require.Equal(t, "req-7", m["request_id"])
		var orig map[string]any
		require.NoError(t, json.Unmarshal([]byte(lines[i]), &orig))
		require.Equal(t, orig["msg"], m["msg"])
	}
}
