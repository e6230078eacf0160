package sqs

import (
	"context"
	"crypto/md5" //nolint:gosec // SQS's checksum
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/stretchr/testify/require"

	"github.com/redub/redub/local/invoke"
)

func TestPollerEvent(t *testing.T) {
	t.Parallel()
	b := setup(t)
	q, _ := b.queue(t, 30*time.Second, 0)
	sent, err := b.client.SendMessage(t.Context(), &sqs.SendMessageInput{
		QueueUrl:    aws.String(q.URL),
		MessageBody: aws.String(`{"jobId":"j1"}`),
		MessageAttributes: map[string]types.MessageAttributeValue{
			"kind":  {DataType: aws.String("String"), StringValue: aws.String("transcode")},
			"n":     {DataType: aws.String("Number"), StringValue: aws.String("42")},
			"bytes": {DataType: aws.String("Binary"), BinaryValue: []byte{0, 1, 2}},
		},
	})
	require.NoError(t, err)
	fake := newFake(t, nil)
	b.run(t, fake, Mapping{Function: "Fn", QueueURL: q.URL, QueueARN: q.ARN, BatchSize: 1})

	ev := fake.next(t, 5*time.Second).event
	require.Len(t, ev.Records, 1)
	r := ev.Records[0]
	sum := md5.Sum([]byte(`{"jobId":"j1"}`)) //nolint:gosec // SQS's checksum
	require.Equal(t, aws.ToString(sent.MessageId), r.MessageId)
	require.NotEmpty(t, r.ReceiptHandle)
	require.JSONEq(t, `{"jobId":"j1"}`, r.Body)
	require.Equal(t, hex.EncodeToString(sum[:]), r.Md5OfBody)
	require.Equal(t, aws.ToString(sent.MD5OfMessageAttributes), r.Md5OfMessageAttributes)
	require.Equal(t, "aws:sqs", r.EventSource)
	require.Equal(t, q.ARN, r.EventSourceARN)
	require.Equal(t, "us-east-1", r.AWSRegion)

	require.Equal(t, "1", r.Attributes["ApproximateReceiveCount"])
	require.NotEmpty(t, r.Attributes["SenderId"])
	for _, ts := range []string{"SentTimestamp", "ApproximateFirstReceiveTimestamp"} {
		ms, err := strconv.ParseInt(r.Attributes[ts], 10, 64)
		require.NoError(t, err, ts)
		require.WithinDuration(t, time.Now(), time.UnixMilli(ms), 10*time.Second, ts)
	}

	require.Equal(t, events.SQSMessageAttribute{StringValue: aws.String("transcode"), DataType: "String",
		StringListValues: []string{}, BinaryListValues: [][]byte{}}, r.MessageAttributes["kind"])
	require.Equal(t, "42", aws.ToString(r.MessageAttributes["n"].StringValue))
	require.Equal(t, "Number", r.MessageAttributes["n"].DataType)
	require.Equal(t, []byte{0, 1, 2}, r.MessageAttributes["bytes"].BinaryValue)
	require.Equal(t, "Binary", r.MessageAttributes["bytes"].DataType)

	require.Eventually(t, func() bool { return b.depth(t, q.URL) == Depth{} }, 3*time.Second, 20*time.Millisecond,
		"a handled message is deleted")
}

func TestPollerBatchSize(t *testing.T) {
	t.Parallel()
	b := setup(t)
	q, _ := b.queue(t, 30*time.Second, 0)
	b.send(t, q.URL, "1", "2", "3", "4", "5", "6", "7")
	fake := newFake(t, nil)
	b.run(t, fake, Mapping{Function: "Fn", QueueURL: q.URL, QueueARN: q.ARN, BatchSize: 5, MaxConcurrency: 1})

	first, second := fake.next(t, 5*time.Second), fake.next(t, 5*time.Second)
	require.Len(t, first.event.Records, 5)
	require.Len(t, second.event.Records, 2)
	all := slices.Concat(first.bodies(), second.bodies())
	slices.Sort(all)
	require.Equal(t, []string{"1", "2", "3", "4", "5", "6", "7"}, all)
	fake.none(t, 300*time.Millisecond)
}

func TestPollerBatchingWindow(t *testing.T) {
	t.Parallel()
	b := setup(t)
	q, _ := b.queue(t, 30*time.Second, 0)
	fake := newFake(t, nil)
	b.run(t, fake, Mapping{Function: "Fn", QueueURL: q.URL, QueueARN: q.ARN, BatchSize: 10, MaxBatchingWindow: 300 * time.Millisecond})

	for i := range 4 {
		b.send(t, q.URL, strconv.Itoa(i))
		time.Sleep(50 * time.Millisecond)
	}
	c := fake.next(t, 5*time.Second)
	require.Equal(t, []string{"0", "1", "2", "3"}, sortedBodies(c), "one batch gathered over the window")
	fake.none(t, 500*time.Millisecond)

	// A full batch does not wait for the window.
	b.send(t, q.URL, "a", "b", "c", "d", "e", "f", "g", "h", "i", "j")
	start := time.Now()
	c = fake.next(t, 5*time.Second)
	require.Len(t, c.event.Records, 10)
	require.Less(t, time.Since(start), 250*time.Millisecond)
}

func TestPollerPartialBatchFailure(t *testing.T) {
	t.Parallel()
	b := setup(t)
	q, _ := b.queue(t, time.Second, 0)
	ids := b.send(t, q.URL, "a", "b", "c")
	fake := newFake(t, func(n int, ev events.SQSEvent) (invoke.Result, error) {
		if n == 0 {
			return itemFailures(ids[1])
		}
		return invoke.Result{Payload: []byte(`{"batchItemFailures":[]}`)}, nil
	})
	b.run(t, fake, Mapping{Function: "Fn", QueueURL: q.URL, QueueARN: q.ARN, ReportBatchItemFailures: true})

	first := fake.next(t, 5*time.Second)
	require.Equal(t, []string{"a", "b", "c"}, sortedBodies(first))
	again := fake.next(t, 5*time.Second)
	require.Equal(t, []string{"b"}, again.bodies(), "only the failed message comes back")
	require.Equal(t, ids[1], again.event.Records[0].MessageId)
	require.Equal(t, "2", again.event.Records[0].Attributes["ApproximateReceiveCount"])
	require.GreaterOrEqual(t, again.at.Sub(first.at), 900*time.Millisecond, "after the visibility timeout")
	fake.none(t, 1500*time.Millisecond)
	require.Equal(t, Depth{}, b.depth(t, q.URL))
}

func TestPollerWholeBatchFails(t *testing.T) {
	t.Parallel()
	for name, fail := range map[string]func() (invoke.Result, error){
		"function error":  func() (invoke.Result, error) { return functionError("boom") },
		"timeout":         func() (invoke.Result, error) { return invoke.Result{}, invoke.ErrTimeout },
		"crash":           func() (invoke.Result, error) { return invoke.Result{}, invoke.ErrCrashed },
		"unknown item id": func() (invoke.Result, error) { return itemFailures("not-in-batch") },
		"bad response":    func() (invoke.Result, error) { return invoke.Result{Payload: []byte(`"done"`)}, nil },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			q, _ := b.queue(t, time.Second, 0)
			b.send(t, q.URL, "x", "y")
			fake := newFake(t, func(n int, ev events.SQSEvent) (invoke.Result, error) {
				if n == 0 {
					return fail()
				}
				return invoke.Result{}, nil
			})
			b.run(t, fake, Mapping{Function: "Fn", QueueURL: q.URL, QueueARN: q.ARN, ReportBatchItemFailures: true})

			first := fake.next(t, 5*time.Second)
			require.Equal(t, []string{"x", "y"}, sortedBodies(first))
			fake.none(t, 800*time.Millisecond) // nothing comes back before the visibility timeout
			again := fake.next(t, 5*time.Second)
			require.Equal(t, []string{"x", "y"}, sortedBodies(again), "the whole batch comes back")
			for _, r := range again.event.Records {
				require.Equal(t, "2", r.Attributes["ApproximateReceiveCount"])
			}
			require.Eventually(t, func() bool { return b.depth(t, q.URL) == Depth{} }, 3*time.Second, 20*time.Millisecond)
		})
	}
}

// TestPollerPoisonMessage checks that local-aws-sqs's redrive policy moves a
// message that keeps failing to the dead-letter queue after maxReceiveCount
// receives, so the poller needs no redrive of its own.
func TestPollerPoisonMessage(t *testing.T) {
	t.Parallel()
	b := setup(t)
	q, dlq := b.queue(t, time.Second, 2)
	ids := b.send(t, q.URL, "poison")
	fake := newFake(t, func(int, events.SQSEvent) (invoke.Result, error) { return functionError("always") })
	b.run(t, fake, Mapping{Function: "Fn", QueueURL: q.URL, QueueARN: q.ARN})

	for i := range 2 {
		c := fake.next(t, 5*time.Second)
		require.Equal(t, strconv.Itoa(i+1), c.event.Records[0].Attributes["ApproximateReceiveCount"])
	}
	var moved *types.Message
	require.Eventually(t, func() bool {
		out, err := b.client.ReceiveMessage(t.Context(), &sqs.ReceiveMessageInput{
			QueueUrl: aws.String(dlq.URL), AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameAll}, //nolint:staticcheck // the stand-in ignores MessageSystemAttributeNames
		})
		require.NoError(t, err)
		if len(out.Messages) == 0 {
			return false
		}
		moved = &out.Messages[0]
		return true
	}, 5*time.Second, 50*time.Millisecond, "the message reaches the dead-letter queue")
	require.Equal(t, "poison", aws.ToString(moved.Body))
	require.Equal(t, ids[0], aws.ToString(moved.MessageId))
	require.Equal(t, q.ARN, moved.Attributes["DeadLetterQueueSourceArn"])
	fake.none(t, 1200*time.Millisecond) // no third delivery
	require.Equal(t, Depth{}, b.depth(t, q.URL))
}

func TestPollerMaxConcurrency(t *testing.T) {
	t.Parallel()
	b := setup(t)
	q, _ := b.queue(t, 30*time.Second, 0)
	bodies := make([]string, 20)
	for i := range bodies {
		bodies[i] = strconv.Itoa(i)
	}
	b.send(t, q.URL, bodies[:10]...)
	b.send(t, q.URL, bodies[10:]...)
	fake := newFake(t, nil)
	fake.hold = 40 * time.Millisecond
	b.run(t, fake, Mapping{Function: "Fn", QueueURL: q.URL, QueueARN: q.ARN, BatchSize: 1, MaxConcurrency: 2})

	var seen []string
	for range 20 {
		seen = append(seen, fake.next(t, 5*time.Second).bodies()...)
	}
	slices.Sort(seen)
	want := slices.Clone(bodies)
	slices.Sort(want)
	require.Equal(t, want, seen)
	require.Equal(t, int32(2), fake.maxSeen.Load(), "two invokes in flight at most, and two reached")
	require.Eventually(t, func() bool { return b.depth(t, q.URL) == Depth{} }, 3*time.Second, 20*time.Millisecond)
}

func TestPollerRejectsIncompleteMapping(t *testing.T) {
	t.Parallel()
	p := NewPoller(nil, newFake(t, nil), Mapping{Function: "Fn"}, nil)
	require.Error(t, p.Run(t.Context()))
	p = NewPoller(nil, newFake(t, nil), Mapping{Function: "Fn", QueueURL: "http://x/1/q", BatchSize: 10001}, nil)
	require.Error(t, p.Run(t.Context()))
}

func TestMappingDefaults(t *testing.T) {
	t.Parallel()
	m, err := Mapping{Function: "Fn", QueueURL: "http://127.0.0.1:9/210987654321/jobs"}.withDefaults()
	require.NoError(t, err)
	require.Equal(t, "jobs", m.QueueName)
	require.Equal(t, "arn:aws:sqs:us-east-1:210987654321:jobs", m.QueueARN)
	require.Equal(t, DefaultBatchSize, m.BatchSize)
	require.Equal(t, DefaultMaxConcurrency, m.MaxConcurrency)

	m, err = Mapping{Function: "Fn", QueueURL: "http://h/1/jobs.fifo", QueueARN: "arn:aws:sqs:eu-west-1:1:jobs.fifo", MaxConcurrency: 4}.withDefaults()
	require.NoError(t, err)
	require.Equal(t, "eu-west-1", m.Region)
	require.Equal(t, 1, m.MaxConcurrency, "FIFO queues are handled one batch at a time")
}

// TestHopLatency measures how long a message takes from SendMessage to the
// start of its handler while messages keep coming (p50, p99 over 200).
func TestHopLatency(t *testing.T) {
	if testing.Short() {
		t.Skip("measurement")
	}
	t.Parallel()
	b := setup(t)
	q, _ := b.queue(t, 30*time.Second, 0)
	fake := newFake(t, nil)
	b.run(t, fake, Mapping{Function: "Fn", QueueURL: q.URL, QueueARN: q.ARN})

	const n = 200
	go func() {
		for i := range n {
			_, err := b.client.SendMessage(t.Context(), &sqs.SendMessageInput{
				QueueUrl: aws.String(q.URL), MessageBody: aws.String(strconv.FormatInt(time.Now().UnixNano(), 10)),
			})
			if err != nil {
				t.Error(err)
				return
			}
			time.Sleep(time.Duration(5+i%11) * time.Millisecond)
		}
	}()
	var hops []time.Duration
	for len(hops) < n {
		c := fake.next(t, 5*time.Second)
		for _, r := range c.event.Records {
			sent, err := strconv.ParseInt(r.Body, 10, 64)
			require.NoError(t, err)
			hops = append(hops, c.at.Sub(time.Unix(0, sent)))
		}
	}
	p50, p99 := percentile(hops, 50), percentile(hops, 99)
	t.Logf("send-to-handler-start over %d messages: p50 %v, p99 %v, max %v", n, p50, p99, percentile(hops, 100))
	require.Less(t, p50, 100*time.Millisecond)
}

// BenchmarkSQSHop sends one message at a time and waits for its handler to
// start; it reports the latency's p50 and p99.
func BenchmarkSQSHop(b *testing.B) {
	if sharedErr != nil {
		b.Skip(sharedErr)
	}
	for _, size := range []int{1, 10} {
		b.Run(fmt.Sprintf("batch-%d", size), func(b *testing.B) { benchHop(b, size) })
	}
}

func benchHop(b *testing.B, batchSize int) {
	bb := bundle{server: shared, client: NewClient(shared.Endpoint(), shared.Region())}
	name := fmt.Sprintf("bench-hop-%d", queueCount.Add(1))
	infos, err := EnsureQueues(b.Context(), bb.client, []QueueSpec{{Name: name}})
	require.NoError(b, err)
	q := infos[name]
	started := make(chan time.Time, 1)
	inv := invokerFunc(func() { started <- time.Now() })
	p := NewPoller(bb.client, inv, Mapping{Function: "Fn", QueueURL: q.URL, QueueARN: q.ARN, BatchSize: batchSize}, nil)
	done := make(chan error, 1)
	go func() { done <- p.Run(b.Context()) }()
	b.Cleanup(func() { require.NoError(b, <-done) }) // b.Context ends before cleanups run
	time.Sleep(3 * time.Second)                      // idle: the worst case for a short-polling mapping

	var hops []time.Duration
	for b.Loop() {
		sent := time.Now()
		_, err := bb.client.SendMessage(b.Context(), &sqs.SendMessageInput{QueueUrl: aws.String(q.URL), MessageBody: aws.String("x")})
		require.NoError(b, err)
		hops = append(hops, (<-started).Sub(sent))
	}
	b.ReportMetric(float64(percentile(hops, 50).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(percentile(hops, 99).Microseconds())/1000, "p99-ms")
}

// invokerFunc is an Invoker that calls f and succeeds.
type invokerFunc func()

func (f invokerFunc) Invoke(context.Context, string, []byte) (invoke.Result, error) {
	f()
	return invoke.Result{}, nil
}

func sortedBodies(c call) []string {
	out := c.bodies()
	slices.Sort(out)
	return out
}

func percentile(d []time.Duration, p int) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	i := (len(s)*p + 99) / 100
	return s[max(0, min(i, len(s))-1)]
}
