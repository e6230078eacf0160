package sqs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"regexp"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/stretchr/testify/require"

	"github.com/redub/redub/local/invoke"
)

const toolsDir = "../../.tools"

// shared is the server every test but the lifecycle ones uses; each test
// makes its own queues.
var (
	shared     *Server
	sharedErr  error
	queueCount atomic.Int64
)

func TestMain(m *testing.M) {
	log := io.Discard
	if os.Getenv("SQS_TEST_LOG") != "" {
		log = os.Stderr
	}
	shared, sharedErr = StartServer(context.Background(), ServerOptions{ToolsDir: toolsDir, Log: log})
	code := m.Run()
	if shared != nil {
		if err := shared.Stop(context.Background()); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	os.Exit(code)
}

// bundle is what a test works with.
type bundle struct {
	server *Server
	client *sqs.Client
}

// setup returns the shared server, skipping the test when local-aws-sqs is
// not installed.
func setup(t *testing.T) bundle {
	t.Helper()
	if errors.Is(sharedErr, ErrNotInstalled) {
		t.Skip(sharedErr)
	}
	require.NoError(t, sharedErr)
	return bundle{server: shared, client: NewClient(shared.Endpoint(), shared.Region())}
}

var unsafeName = regexp.MustCompile(`[^a-zA-Z0-9_-]+`)

// name returns a queue name unique to this test run.
func (b bundle) name(t *testing.T, suffix string) string {
	n := unsafeName.ReplaceAllString(t.Name(), "-")
	if len(n) > 50 {
		n = n[len(n)-50:]
	}
	return fmt.Sprintf("%s-%d-%s", n, queueCount.Add(1), suffix)
}

// queue creates a standard queue with the given visibility timeout and,
// when maxReceive > 0, a dead-letter queue.
func (b bundle) queue(t *testing.T, visibility time.Duration, maxReceive int) (main, dlq QueueInfo) {
	t.Helper()
	spec := QueueSpec{Name: b.name(t, "q"), VisibilityTimeout: visibility}
	specs := []QueueSpec{spec}
	if maxReceive > 0 {
		specs[0].DeadLetter, specs[0].MaxReceiveCount = b.name(t, "dlq"), maxReceive
		specs = append(specs, QueueSpec{Name: specs[0].DeadLetter})
	}
	infos, err := EnsureQueues(t.Context(), b.client, specs)
	require.NoError(t, err)
	if maxReceive > 0 {
		dlq = infos[specs[0].DeadLetter]
	}
	return infos[spec.Name], dlq
}

// send sends bodies in one SendMessageBatch call and returns their ids.
func (b bundle) send(t *testing.T, url string, bodies ...string) []string {
	t.Helper()
	entries := make([]types.SendMessageBatchRequestEntry, len(bodies))
	for i, body := range bodies {
		entries[i] = types.SendMessageBatchRequestEntry{Id: aws.String(fmt.Sprint(i)), MessageBody: aws.String(body)}
	}
	out, err := b.client.SendMessageBatch(t.Context(), &sqs.SendMessageBatchInput{QueueUrl: aws.String(url), Entries: entries})
	require.NoError(t, err)
	require.Empty(t, out.Failed)
	ids := make([]string, len(bodies))
	for _, s := range out.Successful {
		var i int
		_, _ = fmt.Sscan(aws.ToString(s.Id), &i)
		ids[i] = aws.ToString(s.MessageId)
	}
	return ids
}

// run starts a poller for m until the test ends.
func (b bundle) run(t *testing.T, inv invoke.Invoker, m Mapping) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	p := NewPoller(b.client, inv, m, slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})))
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(5 * time.Second):
			t.Error("Run did not return after cancellation")
		}
	})
}

// depth returns the queue's depth.
func (b bundle) depth(t *testing.T, url string) Depth {
	t.Helper()
	d, err := Depths(t.Context(), b.client, map[string]string{"q": url})
	require.NoError(t, err)
	return d["q"]
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p[:len(p)-1]))
	return len(p), nil
}

// call is one invocation the fake invoker saw.
type call struct {
	at    time.Time
	event events.SQSEvent
}

func (c call) bodies() []string {
	out := make([]string, len(c.event.Records))
	for i, r := range c.event.Records {
		out[i] = r.Body
	}
	return out
}

// fakeInvoker plays a function in-process: it decodes the SQS event,
// records it and answers with respond (success with an empty payload when
// nil).
type fakeInvoker struct {
	t        *testing.T
	respond  func(n int, ev events.SQSEvent) (invoke.Result, error) // n counts calls from 0
	hold     time.Duration                                          // how long each invoke takes
	mu       sync.Mutex
	calls    []call
	inFlight atomic.Int32
	maxSeen  atomic.Int32
	notify   chan call
}

func newFake(t *testing.T, respond func(n int, ev events.SQSEvent) (invoke.Result, error)) *fakeInvoker {
	return &fakeInvoker{t: t, respond: respond, notify: make(chan call, 1000)}
}

func (f *fakeInvoker) Invoke(ctx context.Context, function string, payload []byte) (invoke.Result, error) {
	at := time.Now()
	cur := f.inFlight.Add(1)
	defer f.inFlight.Add(-1)
	for {
		seen := f.maxSeen.Load()
		if cur <= seen || f.maxSeen.CompareAndSwap(seen, cur) {
			break
		}
	}
	if function != "Fn" {
		return invoke.Result{}, invoke.ErrUnknownFunction
	}
	var ev events.SQSEvent
	if err := json.Unmarshal(payload, &ev); err != nil {
		f.t.Errorf("decode sqs event: %v", err)
		return invoke.Result{}, err
	}
	f.mu.Lock()
	n := len(f.calls)
	c := call{at: at, event: ev}
	f.calls = append(f.calls, c)
	f.mu.Unlock()
	f.notify <- c
	if f.hold > 0 {
		select {
		case <-time.After(f.hold):
		case <-ctx.Done():
			return invoke.Result{}, ctx.Err()
		}
	}
	if f.respond == nil {
		return invoke.Result{Payload: []byte("null")}, nil
	}
	return f.respond(n, ev)
}

// next waits for the next invocation.
func (f *fakeInvoker) next(t *testing.T, within time.Duration) call {
	t.Helper()
	select {
	case c := <-f.notify:
		return c
	case <-time.After(within):
		t.Fatalf("no invocation within %v", within)
		return call{}
	}
}

// none asserts that no invocation comes within d.
func (f *fakeInvoker) none(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case c := <-f.notify:
		t.Fatalf("unexpected invocation with %v", c.bodies())
	case <-time.After(d):
	}
}

func functionError(msg string) (invoke.Result, error) {
	return invoke.Result{FunctionError: "Unhandled", Payload: []byte(`{"errorMessage":"` + msg + `","errorType":"errorString"}`)}, nil
}

func itemFailures(ids ...string) (invoke.Result, error) {
	items := make([]map[string]string, len(ids))
	for i, id := range ids {
		items[i] = map[string]string{"itemIdentifier": id}
	}
	b, err := json.Marshal(map[string]any{"batchItemFailures": items})
	return invoke.Result{Payload: b}, err
}
