package deadletter_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/stretchr/testify/require"

	"github.com/redub/redub/shared/job"
	"github.com/redub/redub/shared/ops/deadletter"
)

func TestDiscoverAndResolve(t *testing.T) {
	t.Parallel()
	b := setup(t, 5, 30*time.Second)
	ctx := t.Context()

	pairs, err := deadletter.Discover(ctx, b.client, b.prefix)
	require.NoError(t, err)
	require.Equal(t, []deadletter.Pair{b.pair}, pairs)

	for _, ref := range []string{"TranscodeQueue", "TranscodeDeadLetterQueue", b.pair.Source.Name, b.pair.DeadLetter.Name} {
		got, err := deadletter.Resolve(ctx, b.client, ref, b.prefix)
		require.NoError(t, err, ref)
		require.Equal(t, b.pair, got, ref)
	}
	for _, url := range []string{b.pair.Source.URL, b.pair.DeadLetter.URL} {
		got, err := deadletter.Resolve(ctx, b.client, url, "")
		require.NoError(t, err, url)
		require.Equal(t, b.pair, got, url)
	}
	_, err = deadletter.Resolve(ctx, b.client, "MixQueue", b.prefix)
	require.ErrorIs(t, err, deadletter.ErrNotFound)
	_, err = deadletter.Resolve(ctx, b.client, "Queue", b.prefix)
	require.ErrorIs(t, err, deadletter.ErrNotFound, "a logical id matches whole dash-separated parts only")
}

func TestPeekLeavesMessagesAndRedriveMovesThemAll(t *testing.T) {
	t.Parallel()
	b := setup(t, 1, time.Second)
	ctx := t.Context()

	// Three reach the dead-letter queue the way they do in production (a
	// consumer that keeps failing), the rest are put there directly.
	bodies := stepBodies(t, 22, job.StepTranscode)
	b.failThroughSource(t, bodies[:3]...)
	b.send(t, b.pair.DeadLetter.URL, bodies[3:]...)
	withAttrs := `{"Records":[{"eventName":"ObjectCreated:Put"}]}`
	_, err := b.client.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(b.pair.DeadLetter.URL), MessageBody: aws.String(withAttrs),
		MessageAttributes: map[string]types.MessageAttributeValue{"origin": {DataType: aws.String("String"), StringValue: aws.String("s3")}}})
	require.NoError(t, err)
	bodies = append(bodies, withAttrs)
	n := len(bodies)

	pairs, err := deadletter.Discover(ctx, b.client, b.prefix)
	require.NoError(t, err)
	require.Len(t, pairs, 1)
	require.Equal(t, n, b.depth(t, pairs[0].DeadLetter.URL), "list shows the depth")

	msgs, err := deadletter.Peek(ctx, b.client, b.pair.DeadLetter.URL, deadletter.Options{})
	require.NoError(t, err)
	require.Equal(t, sorted(bodies), bodiesOf(msgs), "show lists each message once")
	steps := 0
	for _, m := range msgs {
		require.NotEmpty(t, m.ID)
		require.Positive(t, m.ReceiveCount)
		require.False(t, m.SentAt.IsZero())
		if m.Step != nil {
			steps++
			require.Equal(t, job.StepTranscode, m.Step.Step)
			require.Contains(t, m.Body, m.Step.JobID.String())
		}
	}
	require.Equal(t, n-1, steps, "every step message is decoded, the S3 event is not")
	require.Equal(t, n, b.depth(t, b.pair.DeadLetter.URL), "show leaves the messages in the queue")
	again, err := deadletter.Peek(ctx, b.client, b.pair.DeadLetter.URL, deadletter.Options{Max: 5})
	require.NoError(t, err)
	require.Len(t, again, 5, "peeked messages are visible again at once, and --max caps a peek")

	rep, err := deadletter.Redrive(ctx, b.client, b.pair, nil, deadletter.Options{})
	require.NoError(t, err)
	require.NoError(t, rep.Err())
	require.Len(t, rep.Moved, n)
	require.Empty(t, rep.NotSent)
	require.Empty(t, rep.NotDeleted)
	require.Zero(t, b.depth(t, b.pair.DeadLetter.URL), "the dead-letter queue is empty")

	// The source got each message exactly once, attributes included.
	out, err := b.client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(b.pair.Source.URL), MaxNumberOfMessages: 10,
		VisibilityTimeout: 60, MessageAttributeNames: []string{"All"}})
	require.NoError(t, err)
	var got []string
	for _, m := range out.Messages {
		got = append(got, aws.ToString(m.Body))
		if aws.ToString(m.Body) == withAttrs {
			require.Equal(t, "s3", aws.ToString(m.MessageAttributes["origin"].StringValue))
		}
		_, err := b.client.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(b.pair.Source.URL), ReceiptHandle: m.ReceiptHandle})
		require.NoError(t, err)
	}
	got = append(got, b.drain(t, b.pair.Source.URL)...)
	require.Equal(t, sorted(bodies), sorted(got), "the source holds exactly the dead letters, no duplicates")
}

// flaky is the real client with sends and deletes that fail on demand.
type flaky struct {
	*sqs.Client
	failBody   func(body string) bool // entries reported Failed by SendMessageBatch
	failCall   func(call int) bool    // SendMessageBatch calls that fail as a whole (from 1)
	failDelete func(body string) bool // entries reported Failed by DeleteMessageBatch
	sendCalls  int
	bodies     map[string]string // receipt handle -> body
}

func (f *flaky) ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, opts ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error) {
	out, err := f.Client.ReceiveMessage(ctx, in, opts...)
	if err == nil {
		for _, m := range out.Messages {
			f.bodies[aws.ToString(m.ReceiptHandle)] = aws.ToString(m.Body)
		}
	}
	return out, err
}

func (f *flaky) SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, opts ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error) {
	f.sendCalls++
	if f.failCall != nil && f.failCall(f.sendCalls) {
		return nil, errors.New("connection reset by peer")
	}
	var pass []types.SendMessageBatchRequestEntry
	var failed []types.BatchResultErrorEntry
	for _, e := range in.Entries {
		if f.failBody != nil && f.failBody(aws.ToString(e.MessageBody)) {
			failed = append(failed, types.BatchResultErrorEntry{Id: e.Id, Code: aws.String("InternalError"), Message: aws.String("injected")})
			continue
		}
		pass = append(pass, e)
	}
	out := &sqs.SendMessageBatchOutput{}
	if len(pass) > 0 {
		real, err := f.Client.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: in.QueueUrl, Entries: pass}, opts...)
		if err != nil {
			return nil, err
		}
		out = real
	}
	out.Failed = append(out.Failed, failed...)
	return out, nil
}

func (f *flaky) DeleteMessageBatch(ctx context.Context, in *sqs.DeleteMessageBatchInput, opts ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error) {
	var pass []types.DeleteMessageBatchRequestEntry
	var failed []types.BatchResultErrorEntry
	for _, e := range in.Entries {
		if f.failDelete != nil && f.failDelete(f.bodies[aws.ToString(e.ReceiptHandle)]) {
			failed = append(failed, types.BatchResultErrorEntry{Id: e.Id, Code: aws.String("InternalError"), Message: aws.String("injected")})
			continue
		}
		pass = append(pass, e)
	}
	out := &sqs.DeleteMessageBatchOutput{}
	if len(pass) > 0 {
		real, err := f.Client.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: in.QueueUrl, Entries: pass}, opts...)
		if err != nil {
			return nil, err
		}
		out = real
	}
	out.Failed = append(out.Failed, failed...)
	return out, nil
}

func TestRedriveLeavesUnsentMessagesInTheDeadLetterQueue(t *testing.T) {
	t.Parallel()
	b := setup(t, 5, 30*time.Second)
	ctx := t.Context()
	bodies := stepBodies(t, 14, job.StepTranscribe)
	poison := map[string]bool{bodies[2]: true, bodies[11]: true}
	b.send(t, b.pair.DeadLetter.URL, bodies...)

	c := &flaky{Client: b.client, bodies: map[string]string{}, failBody: func(body string) bool { return poison[body] }}
	rep, err := deadletter.Redrive(ctx, c, b.pair, nil, deadletter.Options{Visibility: time.Second})
	require.NoError(t, err, "per-message send failures do not stop the run")
	require.ErrorIs(t, rep.Err(), deadletter.ErrLeft)
	require.Len(t, rep.Moved, len(bodies)-2)
	require.Len(t, rep.NotSent, 2)
	require.Empty(t, rep.NotDeleted)

	var want []string
	for _, body := range bodies {
		if !poison[body] {
			want = append(want, body)
		}
	}
	require.Equal(t, sorted(want), b.drain(t, b.pair.Source.URL), "the source got exactly the messages that were sent")
	require.Eventually(t, func() bool { return b.depth(t, b.pair.DeadLetter.URL) == 2 }, 10*time.Second, 50*time.Millisecond)
	time.Sleep(1100 * time.Millisecond) // their visibility timeout
	require.Equal(t, sorted([]string{bodies[2], bodies[11]}), b.drain(t, b.pair.DeadLetter.URL), "the unsent ones stay in the dead-letter queue")
}

func TestRedriveStopsWhenASendCallFails(t *testing.T) {
	t.Parallel()
	b := setup(t, 5, 30*time.Second)
	ctx := t.Context()
	bodies := stepBodies(t, 25, job.StepMix)
	b.send(t, b.pair.DeadLetter.URL, bodies...)

	c := &flaky{Client: b.client, bodies: map[string]string{}, failCall: func(call int) bool { return call == 2 }}
	rep, err := deadletter.Redrive(ctx, c, b.pair, nil, deadletter.Options{Visibility: time.Second})
	require.ErrorContains(t, err, "connection reset by peer")
	require.Len(t, rep.Moved, 10, "the first batch went through")
	require.Len(t, rep.NotSent, 10, "the second batch failed; the run stopped before a third")
	require.Empty(t, rep.NotDeleted)

	moved := b.drain(t, b.pair.Source.URL)
	require.Len(t, moved, 10)
	time.Sleep(1100 * time.Millisecond)
	left := b.drain(t, b.pair.DeadLetter.URL)
	require.Equal(t, sorted(bodies), sorted(append(moved, left...)), "nothing lost, nothing doubled")
}

func TestRedriveReportsMessagesItCouldNotDelete(t *testing.T) {
	t.Parallel()
	b := setup(t, 5, 30*time.Second)
	ctx := t.Context()
	bodies := stepBodies(t, 4, job.StepTranscode)
	b.send(t, b.pair.DeadLetter.URL, bodies...)

	c := &flaky{Client: b.client, bodies: map[string]string{}, failDelete: func(body string) bool { return body == bodies[1] }}
	rep, err := deadletter.Redrive(ctx, c, b.pair, nil, deadletter.Options{})
	require.NoError(t, err)
	require.ErrorIs(t, rep.Err(), deadletter.ErrDuplicates)
	require.Len(t, rep.Moved, 3)
	require.Len(t, rep.NotDeleted, 1)
	require.True(t, strings.Contains(bodies[1], rep.NotDeleted[0].Step.JobID.String()))
	require.Equal(t, sorted(bodies), b.drain(t, b.pair.Source.URL), "sent once, not twice")
	require.Equal(t, 1, b.depth(t, b.pair.DeadLetter.URL), "and still in the dead-letter queue: the reported duplicate")
}
