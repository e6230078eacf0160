package s3

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/stretchr/testify/require"

	"github.com/redub/redub/local/invoke"
)

// fakeSender records SendMessage calls; the first failures calls fail.
type fakeSender struct {
	mu       sync.Mutex
	sent     []sentMessage
	calls    int
	failures int
	block    chan struct{} // when set, calls wait for it to close
}

type sentMessage struct {
	QueueURL string
	Body     string
}

func (f *fakeSender) SendMessage(ctx context.Context, in *sqs.SendMessageInput, _ ...func(*sqs.Options)) (*sqs.SendMessageOutput, error) {
	if f.block != nil {
		select {
		case <-f.block:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.calls <= f.failures {
		return nil, errors.New("queue unavailable")
	}
	f.sent = append(f.sent, sentMessage{QueueURL: *in.QueueUrl, Body: *in.MessageBody})
	return &sqs.SendMessageOutput{}, nil
}

func (f *fakeSender) messages() []sentMessage {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]sentMessage(nil), f.sent...)
}

// to returns the events sent to queueURL, decoded.
func (f *fakeSender) to(t *testing.T, queueURL string) []events.S3Event {
	t.Helper()
	var out []events.S3Event
	for _, m := range f.messages() {
		if m.QueueURL == queueURL {
			out = append(out, decodeEvent(t, m.Body))
		}
	}
	return out
}

// fakeInvoker records invocations; results are returned in turn (nil
// entries and calls past the end succeed).
type fakeInvoker struct {
	mu      sync.Mutex
	calls   []invocation
	results []error
}

type invocation struct {
	Function string
	Payload  string
}

func (f *fakeInvoker) Invoke(_ context.Context, function string, payload []byte) (invoke.Result, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, invocation{Function: function, Payload: string(payload)})
	if n := len(f.calls); n <= len(f.results) && f.results[n-1] != nil {
		if errors.Is(f.results[n-1], errFunction) {
			return invoke.Result{FunctionError: "Unhandled", Payload: []byte(`{"errorMessage":"boom"}`)}, nil
		}
		return invoke.Result{}, f.results[n-1]
	}
	return invoke.Result{Payload: []byte("null")}, nil
}

// errFunction makes fakeInvoker answer with a function error.
var errFunction = errors.New("function error")

func (f *fakeInvoker) invocations() []invocation {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]invocation(nil), f.calls...)
}

func decodeEvent(t *testing.T, body string) events.S3Event {
	t.Helper()
	var ev events.S3Event
	require.NoError(t, json.Unmarshal([]byte(body), &ev), body)
	return ev
}

// eventually waits until cond holds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	require.Eventually(t, cond, 10*time.Second, 10*time.Millisecond, what)
}
