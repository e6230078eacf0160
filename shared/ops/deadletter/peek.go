package deadletter

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/redub/redub/shared/queue"
)

// Reader is the SQS calls that look at messages without removing them.
type Reader interface {
	ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, opts ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	ChangeMessageVisibilityBatch(ctx context.Context, in *sqs.ChangeMessageVisibilityBatchInput, opts ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityBatchOutput, error)
}

// Message is one received message.
type Message struct {
	ID            string
	Body          string
	ReceiveCount  int
	SentAt        time.Time // zero when the endpoint does not say
	FirstReceived time.Time
	// SourceARN is the queue the message was moved from, when the endpoint
	// records it (DeadLetterQueueSourceArn).
	SourceARN  string
	GroupID    string // FIFO queues only
	DedupID    string // FIFO queues only
	Attributes map[string]types.MessageAttributeValue
	// Step is the decoded step message, nil for other bodies (the ingest
	// queue carries S3 events).
	Step *queue.Message

	receipt string
}

// Options tune how messages are received.
type Options struct {
	// Max is how many messages to take at most; 0 means all.
	Max int
	// Visibility is how long a received message stays hidden from other
	// receivers while it is looked at or moved. Default: 30 s for Peek, 2 min
	// for Redrive.
	Visibility time.Duration
	// Wait is the long-poll wait of each receive (default 1 s): a short poll
	// of real SQS may answer empty while messages wait.
	Wait time.Duration
}

func (o Options) withDefaults(visibility time.Duration) Options {
	if o.Visibility <= 0 {
		o.Visibility = visibility
	}
	if o.Wait <= 0 {
		o.Wait = time.Second
	}
	return o
}

// Peek returns the messages of the queue at url without removing them, at
// most opts.Max (all when 0), in the order received. When it has them it
// makes them visible again at once. The messages are read even when that
// fails: Peek returns them with an error saying they stay hidden until their
// visibility timeout ends. Any other failure returns no messages.
func Peek(ctx context.Context, c Reader, url string, opts Options) ([]Message, error) {
	opts = opts.withDefaults(30 * time.Second)
	var msgs []Message
	seen := map[string]int{}
	for opts.Max == 0 || len(msgs) < opts.Max {
		batch, err := receive(ctx, c, url, batchSize(opts.Max, len(msgs)), opts)
		if err != nil {
			if rerr := release(ctx, c, url, msgs); rerr != nil {
				err = errors.Join(err, rerr)
			}
			return nil, err
		}
		fresh := 0
		for _, m := range batch {
			if i, ok := seen[m.ID]; ok {
				msgs[i].receipt = m.receipt // the latest receipt handle is the one SQS honours
				continue
			}
			seen[m.ID] = len(msgs)
			msgs = append(msgs, m)
			fresh++
		}
		if fresh == 0 {
			break
		}
	}
	return msgs, release(ctx, c, url, msgs)
}

func batchSize(max, done int) int {
	if max > 0 && max-done < 10 {
		return max - done
	}
	return 10
}

// receive takes up to n messages with every attribute.
func receive(ctx context.Context, c Reader, url string, n int, opts Options) ([]Message, error) {
	out, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
		QueueUrl:              aws.String(url),
		MaxNumberOfMessages:   int32(n), //nolint:gosec // at most 10
		VisibilityTimeout:     wholeSeconds(opts.Visibility, 12*60*60),
		WaitTimeSeconds:       wholeSeconds(opts.Wait, 20),
		MessageAttributeNames: []string{"All"},
		// The local stand-in reads only the older AttributeNames; SQS takes both.
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAll},
		AttributeNames:              []types.QueueAttributeName{types.QueueAttributeNameAll}, //nolint:staticcheck // see above
	})
	if err != nil {
		return nil, fmt.Errorf("receive from %s: %w", nameOf(url), err)
	}
	msgs := make([]Message, 0, len(out.Messages))
	for _, m := range out.Messages {
		msgs = append(msgs, fromSQS(m))
	}
	return msgs, nil
}

// wholeSeconds is d in seconds within SQS's limit for the field.
func wholeSeconds(d time.Duration, limit int32) int32 {
	s := int64(d / time.Second)
	switch {
	case s < 0:
		return 0
	case s > int64(limit):
		return limit
	}
	return int32(s) //nolint:gosec // within 0..limit, checked above
}

func fromSQS(m types.Message) Message {
	a := m.Attributes
	out := Message{
		ID:            aws.ToString(m.MessageId),
		Body:          aws.ToString(m.Body),
		ReceiveCount:  atoi(a[string(types.MessageSystemAttributeNameApproximateReceiveCount)]),
		SentAt:        millis(a[string(types.MessageSystemAttributeNameSentTimestamp)]),
		FirstReceived: millis(a[string(types.MessageSystemAttributeNameApproximateFirstReceiveTimestamp)]),
		SourceARN:     a[string(types.MessageSystemAttributeNameDeadLetterQueueSourceArn)],
		GroupID:       a[string(types.MessageSystemAttributeNameMessageGroupId)],
		DedupID:       a[string(types.MessageSystemAttributeNameMessageDeduplicationId)],
		Attributes:    m.MessageAttributes,
		receipt:       aws.ToString(m.ReceiptHandle),
	}
	if step, err := queue.Decode(out.Body); err == nil {
		out.Step = &step
	}
	return out
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

func millis(s string) time.Time {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return time.Time{}
	}
	return time.UnixMilli(n).UTC()
}

// release makes msgs visible again at once, ten at a time.
func release(ctx context.Context, c Reader, url string, msgs []Message) error {
	var errs []error
	for start := 0; start < len(msgs); start += 10 {
		end := min(start+10, len(msgs))
		entries := make([]types.ChangeMessageVisibilityBatchRequestEntry, 0, end-start)
		for i, m := range msgs[start:end] {
			entries = append(entries, types.ChangeMessageVisibilityBatchRequestEntry{
				Id: aws.String(strconv.Itoa(i)), ReceiptHandle: aws.String(m.receipt), VisibilityTimeout: 0,
			})
		}
		out, err := c.ChangeMessageVisibilityBatch(ctx, &sqs.ChangeMessageVisibilityBatchInput{QueueUrl: aws.String(url), Entries: entries})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, f := range out.Failed {
			errs = append(errs, fmt.Errorf("message %s: %s", msgs[start+atoi(aws.ToString(f.Id))].ID, aws.ToString(f.Message)))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("make peeked messages of %s visible again (they stay hidden until their visibility timeout ends): %w", nameOf(url), errors.Join(errs...))
	}
	return nil
}
