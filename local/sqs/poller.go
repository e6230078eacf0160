package sqs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/redub/redub/local/invoke"
)

// Defaults and limits of an event source mapping.
const (
	DefaultBatchSize      = 10 // Lambda's default for SQS
	DefaultMaxConcurrency = 5  // Lambda starts with five pollers
	maxReceive            = 10 // ReceiveMessage's MaxNumberOfMessages limit
	deleteBatch           = 10 // DeleteMessageBatch's entry limit
)

// Polling pace. A short poll that finds nothing is repeated after pollDelay
// while the queue has been busy within hotFor, then ever more slowly up to
// idleDelay: an idle mapping costs about seven receives a second against the
// stand-in (whose empty short poll itself takes 40 ms), and the first message
// after a quiet spell waits at most about 150 ms.
const (
	pollDelay     = 20 * time.Millisecond
	hotFor        = 2 * time.Second
	idleDelay     = 100 * time.Millisecond
	errorDelay    = 100 * time.Millisecond // first pause after a failed receive; doubles up to maxErrorDelay
	maxErrorDelay = 5 * time.Second
	throttlePause = time.Second // receiving pauses this long after an invoke is throttled
	deleteTimeout = 10 * time.Second
)

// Mapping is one SQS event source of a function, as template.yaml declares it.
type Mapping struct {
	Function  string // the function's logical id, as the Invoker knows it
	QueueName string // for logs; "" = the last segment of QueueURL
	QueueURL  string
	QueueARN  string // eventSourceARN; "" = derived from QueueURL and Region

	BatchSize               int           // 0 = DefaultBatchSize; above 10 takes several receives
	MaxBatchingWindow       time.Duration // 0 = invoke as soon as messages arrive
	ReportBatchItemFailures bool          // FunctionResponseTypes: [ReportBatchItemFailures]
	MaxConcurrency          int           // batches in flight at once; 0 = DefaultMaxConcurrency

	// VisibilityTimeout, when set, is asked for on every receive; 0 leaves
	// the queue's own. SQS counts it in whole seconds (rounded up).
	VisibilityTimeout time.Duration
	Region            string // awsRegion of the records; "" = the ARN's region
}

// api is the part of the SQS client the poller uses.
type api interface {
	ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, opts ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	DeleteMessageBatch(ctx context.Context, in *sqs.DeleteMessageBatchInput, opts ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error)
}

// Poller plays Lambda's event source mapping for one queue and function: it
// receives batches of messages, invokes the function with them and deletes
// what the function handled.
type Poller struct {
	c   api
	inv invoke.Invoker
	m   Mapping
	log *slog.Logger

	mu            sync.Mutex
	throttledTill time.Time
}

// NewPoller returns a poller for m that receives through c and invokes
// through inv. A nil log discards the logs.
func NewPoller(c *sqs.Client, inv invoke.Invoker, m Mapping, log *slog.Logger) *Poller {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Poller{c: c, inv: inv, m: m, log: log}
}

// Run polls until ctx is done, with up to MaxConcurrency batches in flight,
// and returns nil then, once the invokes it started have returned (they get
// ctx, so they are cancelled too; their messages come back after the
// visibility timeout). It returns an error at once when the mapping is
// incomplete. Call it once per Poller.
func (p *Poller) Run(ctx context.Context) error {
	m, err := p.m.withDefaults()
	if err != nil {
		return err
	}
	p.m = m
	p.log = p.log.With("queue", m.QueueName, "function", m.Function)

	slots := make(chan struct{}, m.MaxConcurrency)
	var wg sync.WaitGroup
	defer wg.Wait()
	errPause := errorDelay
	for {
		select { // a free slot first: no message is received that cannot be handed on at once
		case slots <- struct{}{}:
		case <-ctx.Done():
			return nil
		}
		batch, err := p.gather(ctx)
		if ctx.Err() != nil {
			// Messages already received come back after their visibility timeout.
			return nil
		}
		if err != nil {
			p.log.Warn("sqs receive failed", "err", err)
			if len(batch) == 0 {
				<-slots
				if !sleep(ctx, errPause) {
					return nil
				}
				errPause = min(2*errPause, maxErrorDelay)
				continue
			}
		}
		errPause = errorDelay
		wg.Go(func() {
			defer func() { <-slots }()
			p.handle(ctx, batch)
		})
	}
}

// withDefaults validates m and fills in its defaults.
func (m Mapping) withDefaults() (Mapping, error) {
	if m.Function == "" || m.QueueURL == "" {
		return m, fmt.Errorf("sqs mapping %q -> %q: function and queue URL are required", m.QueueURL, m.Function)
	}
	segments := strings.Split(strings.TrimRight(m.QueueURL, "/"), "/")
	if m.QueueName == "" {
		m.QueueName = segments[len(segments)-1]
	}
	if m.Region == "" {
		if parts := strings.Split(m.QueueARN, ":"); len(parts) == 6 {
			m.Region = parts[3]
		} else {
			m.Region = DefaultRegion
		}
	}
	if m.QueueARN == "" {
		account := DefaultAccountID
		if len(segments) >= 2 {
			account = segments[len(segments)-2]
		}
		m.QueueARN = fmt.Sprintf("arn:aws:sqs:%s:%s:%s", m.Region, account, m.QueueName)
	}
	if m.BatchSize == 0 {
		m.BatchSize = DefaultBatchSize
	}
	if m.MaxConcurrency == 0 {
		m.MaxConcurrency = DefaultMaxConcurrency
	}
	if strings.HasSuffix(m.QueueName, ".fifo") {
		// Neither the stand-in nor this poller keeps a message group's
		// messages apart; one batch at a time at least keeps their order
		// while batches succeed.
		m.MaxConcurrency = 1
	}
	switch {
	case m.BatchSize < 1 || m.BatchSize > 10000:
		return m, fmt.Errorf("sqs mapping %s -> %s: batch size %d is outside 1-10000", m.QueueName, m.Function, m.BatchSize)
	case m.MaxConcurrency < 1:
		return m, fmt.Errorf("sqs mapping %s -> %s: maximum concurrency %d is below 1", m.QueueName, m.Function, m.MaxConcurrency)
	case m.MaxBatchingWindow < 0 || m.VisibilityTimeout < 0:
		return m, fmt.Errorf("sqs mapping %s -> %s: negative batching window or visibility timeout", m.QueueName, m.Function)
	}
	return m, nil
}

// gather receives the next batch: it short-polls until at least one message
// arrives, then keeps receiving until the batch is full, or, without a
// batching window, until the queue has no more, or, with one, until the window
// (counted from the first message) has passed. A receive error ends the batch
// early; the messages gathered so far are returned with it.
func (p *Poller) gather(ctx context.Context) ([]types.Message, error) {
	var (
		batch      []types.Message
		index      = map[string]int{} // message id -> position in batch
		windowEnds time.Time
		idle       = newPace()
	)
	for {
		if !p.waitThrottle(ctx) {
			return batch, nil
		}
		want := min(p.m.BatchSize-len(batch), maxReceive)
		// Waiting for exactly one message, a long poll is safe with the
		// stand-in (its batch is full as soon as one arrives) and answers
		// at once, instead of paying the idle pace.
		longPoll := want == 1 && len(batch) == 0
		msgs, err := p.receive(ctx, want, longPoll)
		if err != nil {
			return batch, err
		}
		for _, msg := range msgs {
			// A message whose visibility timeout ran out inside a long
			// window comes again: keep one copy, with the newest handle.
			id := aws.ToString(msg.MessageId)
			if i, dup := index[id]; dup {
				batch[i] = msg
				continue
			}
			index[id] = len(batch)
			batch = append(batch, msg)
		}
		switch {
		case len(batch) >= p.m.BatchSize:
			return batch, nil
		case len(batch) == 0:
			if longPoll {
				continue
			}
			if !sleep(ctx, idle.next()) {
				return nil, nil
			}
			continue
		case p.m.MaxBatchingWindow == 0:
			if len(msgs) < want { // the queue is drained
				return batch, nil
			}
			continue
		}
		if windowEnds.IsZero() {
			windowEnds = time.Now().Add(p.m.MaxBatchingWindow)
		}
		left := time.Until(windowEnds)
		if left <= 0 {
			return batch, nil
		}
		if len(msgs) < want && !sleep(ctx, min(pollDelay, left)) {
			return batch, nil
		}
	}
}

// receive polls once. The stand-in's long poll answers only once the batch
// is full, so it long-polls (1 s) only when asking for one message, and
// short-polls otherwise. It ignores MessageSystemAttributeNames, so the
// deprecated AttributeNames asks again.
func (p *Poller) receive(ctx context.Context, n int, long bool) ([]types.Message, error) {
	wait := int32(0)
	if long {
		wait = 1
	}
	in := &sqs.ReceiveMessageInput{
		QueueUrl:                    aws.String(p.m.QueueURL),
		MaxNumberOfMessages:         int32(n), //nolint:gosec // 1-10
		WaitTimeSeconds:             wait,
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAll},
		AttributeNames:              []types.QueueAttributeName{types.QueueAttributeNameAll}, //nolint:staticcheck // see above
		MessageAttributeNames:       []string{"All"},
	}
	if p.m.VisibilityTimeout > 0 {
		in.VisibilityTimeout = int32((p.m.VisibilityTimeout + time.Second - 1) / time.Second) //nolint:gosec // at most 12h
	}
	out, err := p.c.ReceiveMessage(ctx, in)
	if err != nil {
		return nil, fmt.Errorf("receive from %s: %w", p.m.QueueName, err)
	}
	return out.Messages, nil
}

// handle invokes the function with batch and deletes the messages it
// handled. A function error, timeout, crash or throttle deletes nothing: the
// messages come back once their visibility timeout passes, and the queue's
// redrive policy moves them to its dead-letter queue after maxReceiveCount
// receives.
func (p *Poller) handle(ctx context.Context, batch []types.Message) {
	payload, err := sqsEvent(batch, p.m.QueueARN, p.m.Region)
	if err != nil {
		p.log.Warn("sqs batch not invoked", "err", err)
		return
	}
	res, err := p.inv.Invoke(ctx, p.m.Function, payload)
	log := p.log.With("messages", len(batch), "duration", res.Duration)
	switch {
	case err != nil && ctx.Err() != nil:
		log.Debug("sqs invoke cancelled", "err", err)
		return
	case err != nil:
		if errors.Is(err, invoke.ErrThrottled) {
			p.throttle()
		}
		log.Warn("sqs invoke failed; the batch returns after its visibility timeout", "err", err)
		return
	case res.FunctionError != "":
		log.Warn("sqs invoke: function error; the batch returns after its visibility timeout",
			"error_type", res.FunctionError, "payload", string(res.Payload))
		return
	}

	done := batch
	if p.m.ReportBatchItemFailures {
		ids := make(map[string]bool, len(batch))
		for _, m := range batch {
			ids[aws.ToString(m.MessageId)] = true
		}
		failed, err := failedItems(res.Payload, ids)
		if err != nil {
			log.Warn("sqs invoke: the whole batch fails; it returns after its visibility timeout", "err", err)
			return
		}
		if len(failed) > 0 {
			done = make([]types.Message, 0, len(batch)-len(failed))
			for _, m := range batch {
				if !failed[aws.ToString(m.MessageId)] {
					done = append(done, m)
				}
			}
			log.Warn("sqs invoke: partial batch failure; the failed messages return after their visibility timeout", "failed", len(failed))
		}
	}
	log.Debug("sqs invoke", "deleted", len(done))
	// Delete even when Run is stopping: the function has handled them.
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), deleteTimeout)
	defer cancel()
	p.delete(dctx, done)
}

// delete removes msgs from the queue, ten at a time.
func (p *Poller) delete(ctx context.Context, msgs []types.Message) {
	for start := 0; start < len(msgs); start += deleteBatch {
		chunk := msgs[start:min(start+deleteBatch, len(msgs))]
		entries := make([]types.DeleteMessageBatchRequestEntry, len(chunk))
		for i, m := range chunk {
			entries[i] = types.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: m.ReceiptHandle}
		}
		out, err := p.c.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(p.m.QueueURL), Entries: entries})
		if err != nil {
			p.log.Warn("sqs delete failed; the messages will be delivered again", "messages", len(chunk), "err", err)
			continue
		}
		for _, f := range out.Failed {
			p.log.Warn("sqs delete failed; the message will be delivered again",
				"entry", aws.ToString(f.Id), "code", aws.ToString(f.Code), "err", aws.ToString(f.Message))
		}
	}
}

// throttle pauses receiving: a throttled batch still costs its messages a
// receive, and hammering a full pool would push them to the dead-letter
// queue.
func (p *Poller) throttle() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.throttledTill = time.Now().Add(throttlePause)
}

// waitThrottle sleeps out a throttle pause; false means ctx ended.
func (p *Poller) waitThrottle(ctx context.Context) bool {
	p.mu.Lock()
	till := p.throttledTill
	p.mu.Unlock()
	if d := time.Until(till); d > 0 {
		return sleep(ctx, d)
	}
	return true
}

// pace spaces out empty polls.
type pace struct {
	since time.Time // the last time a poll found messages (or gathering began)
	delay time.Duration
}

func newPace() *pace { return &pace{since: time.Now(), delay: pollDelay} }

// next returns the pause before the next poll after an empty one.
func (p *pace) next() time.Duration {
	if time.Since(p.since) < hotFor {
		return pollDelay
	}
	p.delay = min(2*p.delay, idleDelay)
	return p.delay
}

// sleep waits d; false means ctx ended first.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
