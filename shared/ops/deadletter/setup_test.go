package deadletter_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	localsqs "github.com/redub/redub/local/sqs"
	"github.com/redub/redub/shared/ops/deadletter"
	"github.com/redub/redub/shared/queue"
)

// server is the local SQS stand-in every test shares; each test makes its own
// queues under its own name prefix.
var (
	server    *localsqs.Server
	serverErr error
	counter   atomic.Int64
)

func TestMain(m *testing.M) {
	server, serverErr = localsqs.StartServer(context.Background(), localsqs.ServerOptions{ToolsDir: "../../../.tools", Log: io.Discard})
	code := m.Run()
	if server != nil {
		if err := server.Stop(context.Background()); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	os.Exit(code)
}

// bundle is one test's queues: a source with a dead-letter queue, named as
// CloudFormation names them (<prefix>-<LogicalId>-<suffix>).
type bundle struct {
	client *sqs.Client
	prefix string
	pair   deadletter.Pair
}

func setup(t *testing.T, maxReceive int, visibility time.Duration) *bundle {
	t.Helper()
	if errors.Is(serverErr, localsqs.ErrNotInstalled) {
		t.Skip(serverErr)
	}
	require.NoError(t, serverErr)
	b := &bundle{client: localsqs.NewClient(server.Endpoint(), server.Region()), prefix: fmt.Sprintf("dl%d", counter.Add(1))}
	src, dlq := b.prefix+"-TranscodeQueue-A1B2", b.prefix+"-TranscodeDeadLetterQueue-C3D4"
	infos, err := localsqs.EnsureQueues(t.Context(), b.client, []localsqs.QueueSpec{
		{Name: src, VisibilityTimeout: visibility, DeadLetter: dlq, MaxReceiveCount: maxReceive},
		{Name: dlq},
	})
	require.NoError(t, err)
	b.pair = deadletter.Pair{
		Source:          deadletter.Queue{Name: src, URL: infos[src].URL, ARN: infos[src].ARN},
		DeadLetter:      deadletter.Queue{Name: dlq, URL: infos[dlq].URL, ARN: infos[dlq].ARN},
		MaxReceiveCount: maxReceive,
	}
	return b
}

// stepBodies returns n step messages for distinct jobs.
func stepBodies(t *testing.T, n int, step string) []string {
	t.Helper()
	out := make([]string, n)
	for i := range out {
		b, err := json.Marshal(queue.Message{V: queue.Version, JobID: uuid.New(), Step: step, Attempt: 1, TraceID: fmt.Sprintf("trace-%d", i)})
		require.NoError(t, err)
		out[i] = string(b)
	}
	return out
}

// send puts bodies on the queue at url, ten per call.
func (b *bundle) send(t *testing.T, url string, bodies ...string) {
	t.Helper()
	for start := 0; start < len(bodies); start += 10 {
		var entries []types.SendMessageBatchRequestEntry
		for i, body := range bodies[start:min(start+10, len(bodies))] {
			entries = append(entries, types.SendMessageBatchRequestEntry{Id: aws.String(fmt.Sprint(i)), MessageBody: aws.String(body)})
		}
		out, err := b.client.SendMessageBatch(t.Context(), &sqs.SendMessageBatchInput{QueueUrl: aws.String(url), Entries: entries})
		require.NoError(t, err)
		require.Empty(t, out.Failed)
	}
}

// failThroughSource sends bodies to the source queue and receives them
// without deleting until the redrive policy moves them to the dead-letter
// queue, as a crashing consumer would.
func (b *bundle) failThroughSource(t *testing.T, bodies ...string) {
	t.Helper()
	before := b.depth(t, b.pair.DeadLetter.URL)
	b.send(t, b.pair.Source.URL, bodies...)
	require.Eventually(t, func() bool {
		_, err := b.client.ReceiveMessage(t.Context(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(b.pair.Source.URL), MaxNumberOfMessages: 10})
		require.NoError(t, err)
		return b.depth(t, b.pair.DeadLetter.URL) == before+len(bodies)
	}, 20*time.Second, 100*time.Millisecond, "messages never reached the dead-letter queue")
}

// depth is the number of messages in the queue at url, in flight or not
// (the stand-in counts both in ApproximateNumberOfMessages).
func (b *bundle) depth(t *testing.T, url string) int {
	t.Helper()
	d, err := deadletter.QueueDepth(t.Context(), b.client, url)
	require.NoError(t, err)
	return d.Visible
}

// drain receives and deletes everything in the queue at url and returns the
// bodies, sorted.
func (b *bundle) drain(t *testing.T, url string) []string {
	t.Helper()
	var bodies []string
	for {
		out, err := b.client.ReceiveMessage(t.Context(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 10,
			VisibilityTimeout: 60, MessageAttributeNames: []string{"All"}})
		require.NoError(t, err)
		if len(out.Messages) == 0 {
			sort.Strings(bodies)
			return bodies
		}
		for _, m := range out.Messages {
			bodies = append(bodies, aws.ToString(m.Body))
			_, err := b.client.DeleteMessage(t.Context(), &sqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: m.ReceiptHandle})
			require.NoError(t, err)
		}
	}
}

func sorted(s []string) []string {
	out := append([]string(nil), s...)
	sort.Strings(out)
	return out
}

func bodiesOf(msgs []deadletter.Message) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = m.Body
	}
	sort.Strings(out)
	return out
}
