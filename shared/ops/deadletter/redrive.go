package deadletter

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/redub/redub/shared/queue"
)

// Mover is the SQS calls Redrive makes.
type Mover interface {
	Reader
	SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, opts ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error)
	DeleteMessageBatch(ctx context.Context, in *sqs.DeleteMessageBatchInput, opts ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error)
	GetQueueUrl(ctx context.Context, in *sqs.GetQueueUrlInput, opts ...func(*sqs.Options)) (*sqs.GetQueueUrlOutput, error)
}

// Resetter makes a step message's job runnable again before the message is
// sent back (see JobReset).
type Resetter interface {
	Reset(ctx context.Context, m queue.Message) (ResetResult, error)
}

// ResetResult is what a Resetter did for one message.
type ResetResult struct {
	JobID string
	Step  string
	Done  bool   // the job was set back to running and the step to queued
	Note  string // why not, or what was done, for a person
}

// Report is what one Redrive did, message by message.
type Report struct {
	Moved      []Outcome     // sent to the source queue and deleted from the dead-letter queue
	NotSent    []Outcome     // still in the dead-letter queue (and only there)
	NotDeleted []Outcome     // sent, but still in the dead-letter queue too: a duplicate
	Resets     []ResetResult // one per step message, with a Resetter
}

// Outcome is one message's fate.
type Outcome struct {
	MessageID string
	To        string         // the queue it was sent to, or would have been
	Step      *queue.Message // nil for a body that is not a step message
	Err       error          // why it was not sent or not deleted
}

// maxBatchBytes keeps a SendMessageBatch under SQS's payload limit (256 KiB
// for the whole batch), with room for attributes.
const maxBatchBytes = 200 << 10

// Redrive moves messages from pair's dead-letter queue back to its source
// queue (or to the queue a message records as its source, when the
// dead-letter queue serves several): at most opts.Max, all when 0. It never
// deletes a message it has not sent, and never sends one twice in a run; see
// the package documentation for what it guarantees and what it reports. With
// reset non-nil, each step message's job is reset before the message is sent,
// and a message whose reset fails stays in the dead-letter queue.
//
// The report is always returned. The error is non-nil when the run stopped
// early: a receive, a whole send or delete call, or ctx failed.
func Redrive(ctx context.Context, c Mover, pair Pair, reset Resetter, opts Options) (Report, error) {
	opts = opts.withDefaults(2 * time.Minute)
	r := &redrive{c: c, pair: pair, reset: reset, urls: map[string]string{pair.Source.ARN: pair.Source.URL}, state: map[string]int{}}
	taken := 0
	for opts.Max == 0 || taken < opts.Max {
		if err := ctx.Err(); err != nil {
			return r.report, err
		}
		batch, err := receive(ctx, c, pair.DeadLetter.URL, batchSize(opts.Max, taken), opts)
		if err != nil {
			return r.report, err
		}
		fresh, again := r.sort(batch)
		if len(fresh) == 0 && len(again) == 0 {
			break
		}
		r.retryDeletes(ctx, again)
		taken += len(fresh)
		if err := r.move(ctx, fresh); err != nil {
			return r.report, err
		}
	}
	return r.report, nil
}

// sort splits a received batch into messages new to this run and messages
// sent earlier whose delete failed. A message may come twice in one answer
// (the local stand-in's long poll can hand out a message again once its
// visibility timeout ends): it counts once, with its latest receipt handle,
// the only one SQS promises to honour.
func (r *redrive) sort(batch []Message) (fresh, again []Message) {
	at := map[string]int{}
	for _, m := range batch {
		if i, dup := at[m.ID]; dup {
			if r.state[m.ID] == unseen {
				fresh[i].receipt = m.receipt
			} else {
				again[i].receipt = m.receipt
			}
			continue
		}
		switch r.state[m.ID] {
		case unseen:
			at[m.ID] = len(fresh)
			fresh = append(fresh, m)
		case sentNotDeleted:
			at[m.ID] = len(again)
			again = append(again, m)
		}
	}
	return fresh, again
}

// Message states within one run.
const (
	unseen         = iota
	notSent        // left in the dead-letter queue
	sentNotDeleted // in both queues
	moved
	deleteRetried // in both queues; its delete failed twice
)

type redrive struct {
	c      Mover
	pair   Pair
	reset  Resetter
	urls   map[string]string // queue URL by ARN
	state  map[string]int    // by message id
	report Report
}

// entry is a message on its way to one queue.
type entry struct {
	msg Message
	to  Queue
}

func (r *redrive) move(ctx context.Context, msgs []Message) error {
	byQueue := map[string][]entry{}
	var order []string
	for _, m := range msgs {
		to, err := r.destination(ctx, m)
		if err != nil {
			r.notSent(m, to.Name, err)
			continue
		}
		if _, ok := byQueue[to.URL]; !ok {
			order = append(order, to.URL)
		}
		byQueue[to.URL] = append(byQueue[to.URL], entry{m, to})
	}
	var stop error
	var sent []entry
	for _, url := range order {
		for _, chunk := range chunks(byQueue[url]) {
			if stop != nil {
				for _, e := range chunk {
					r.notSent(e.msg, e.to.Name, fmt.Errorf("not tried: %w", stop))
				}
				continue
			}
			ok, err := r.send(ctx, r.resetJobs(ctx, chunk))
			sent = append(sent, ok...)
			if err != nil {
				stop = err
			}
		}
	}
	if err := r.delete(ctx, sent); err != nil && stop == nil {
		stop = err
	}
	return stop
}

// resetJobs resets the jobs of the step messages in chunk, right before they
// are sent, and returns the entries to send: a message whose reset failed
// stays in the dead-letter queue.
func (r *redrive) resetJobs(ctx context.Context, chunk []entry) []entry {
	if r.reset == nil {
		return chunk
	}
	keep := chunk[:0:0]
	for _, e := range chunk {
		if e.msg.Step == nil {
			keep = append(keep, e)
			continue
		}
		res, err := r.reset.Reset(ctx, *e.msg.Step)
		if err != nil {
			r.notSent(e.msg, e.to.Name, err)
			continue
		}
		r.report.Resets = append(r.report.Resets, res)
		keep = append(keep, e)
	}
	return keep
}

// destination is the queue a message goes back to: the one it records as
// its source, else the pair's source.
func (r *redrive) destination(ctx context.Context, m Message) (Queue, error) {
	arn := m.SourceARN
	if arn == "" || arn == r.pair.Source.ARN {
		return r.pair.Source, nil
	}
	name := arn[strings.LastIndexByte(arn, ':')+1:]
	if url, ok := r.urls[arn]; ok {
		return Queue{Name: name, URL: url, ARN: arn}, nil
	}
	in := &sqs.GetQueueUrlInput{QueueName: aws.String(name)}
	if parts := strings.Split(arn, ":"); len(parts) == 6 && parts[4] != "" {
		in.QueueOwnerAWSAccountId = aws.String(parts[4])
	}
	out, err := r.c.GetQueueUrl(ctx, in)
	if err != nil {
		return Queue{Name: name, ARN: arn}, fmt.Errorf("find its source queue %s: %w", arn, err)
	}
	r.urls[arn] = aws.ToString(out.QueueUrl)
	return Queue{Name: name, URL: r.urls[arn], ARN: arn}, nil
}

// chunks splits entries into SendMessageBatch calls: ten at most, and under
// the batch payload limit.
func chunks(entries []entry) [][]entry {
	var out [][]entry
	var cur []entry
	size := 0
	for _, e := range entries {
		n := len(e.msg.Body)
		for k, v := range e.msg.Attributes {
			n += len(k) + len(aws.ToString(v.DataType)) + len(aws.ToString(v.StringValue)) + len(v.BinaryValue)
		}
		if len(cur) == 10 || (len(cur) > 0 && size+n > maxBatchBytes) {
			out = append(out, cur)
			cur, size = nil, 0
		}
		cur = append(cur, e)
		size += n
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// send sends one batch to one queue and returns the entries SQS reports sent.
func (r *redrive) send(ctx context.Context, batch []entry) ([]entry, error) {
	if len(batch) == 0 {
		return nil, nil
	}
	to := batch[0].to
	entries := make([]types.SendMessageBatchRequestEntry, len(batch))
	for i, e := range batch {
		entries[i] = types.SendMessageBatchRequestEntry{
			Id:                aws.String(strconv.Itoa(i)),
			MessageBody:       aws.String(e.msg.Body),
			MessageAttributes: e.msg.Attributes,
		}
		if strings.HasSuffix(to.Name, ".fifo") {
			// The dead-letter queue's message id deduplicates a repeated
			// redrive within SQS's five-minute window.
			entries[i].MessageGroupId = aws.String(e.msg.GroupID)
			entries[i].MessageDeduplicationId = aws.String(e.msg.ID)
		}
	}
	out, err := r.c.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(to.URL), Entries: entries})
	if err != nil {
		err = fmt.Errorf("send to %s: %w", to.Name, err)
		for _, e := range batch {
			r.notSent(e.msg, to.Name, err)
		}
		return nil, err
	}
	answered := make([]bool, len(batch))
	var ok []entry
	for _, s := range out.Successful {
		if i, valid := index(s.Id, len(batch)); valid && !answered[i] {
			answered[i] = true
			ok = append(ok, batch[i])
		}
	}
	for _, f := range out.Failed {
		if i, valid := index(f.Id, len(batch)); valid && !answered[i] {
			answered[i] = true
			r.notSent(batch[i].msg, to.Name, fmt.Errorf("send to %s: %s: %s", to.Name, aws.ToString(f.Code), aws.ToString(f.Message)))
		}
	}
	for i, done := range answered {
		if !done {
			// Not known to be sent: keeping it risks a duplicate, deleting it a loss.
			r.notSent(batch[i].msg, to.Name, fmt.Errorf("send to %s: the answer does not mention this message (it may have been sent)", to.Name))
		}
	}
	return ok, nil
}

// delete removes sent messages from the dead-letter queue, ten at a time.
func (r *redrive) delete(ctx context.Context, sent []entry) error {
	var stop error
	for start := 0; start < len(sent); start += 10 {
		batch := sent[start:min(start+10, len(sent))]
		failed, err := r.deleteBatch(ctx, batch)
		for _, e := range batch {
			if ferr, bad := failed[e.msg.ID]; bad {
				r.state[e.msg.ID] = sentNotDeleted
				r.report.NotDeleted = append(r.report.NotDeleted, Outcome{MessageID: e.msg.ID, To: e.to.Name, Step: e.msg.Step, Err: ferr})
				continue
			}
			r.state[e.msg.ID] = moved
			r.report.Moved = append(r.report.Moved, Outcome{MessageID: e.msg.ID, To: e.to.Name, Step: e.msg.Step})
		}
		if err != nil && stop == nil {
			stop = err
		}
	}
	return stop
}

// deleteBatch deletes up to ten messages and returns the ones it could not
// delete with why; a failed call fails them all and is returned too.
func (r *redrive) deleteBatch(ctx context.Context, batch []entry) (map[string]error, error) {
	entries := make([]types.DeleteMessageBatchRequestEntry, len(batch))
	for i, e := range batch {
		entries[i] = types.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: aws.String(e.msg.receipt)}
	}
	failed := map[string]error{}
	out, err := r.c.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(r.pair.DeadLetter.URL), Entries: entries})
	if err != nil {
		err = fmt.Errorf("delete from %s: %w", r.pair.DeadLetter.Name, err)
		for _, e := range batch {
			failed[e.msg.ID] = err
		}
		return failed, err
	}
	answered := make([]bool, len(batch))
	for _, s := range out.Successful {
		if i, ok := index(s.Id, len(batch)); ok {
			answered[i] = true
		}
	}
	for _, f := range out.Failed {
		if i, ok := index(f.Id, len(batch)); ok {
			answered[i] = true
			failed[batch[i].msg.ID] = fmt.Errorf("delete from %s: %s: %s", r.pair.DeadLetter.Name, aws.ToString(f.Code), aws.ToString(f.Message))
		}
	}
	for i, done := range answered {
		if !done {
			failed[batch[i].msg.ID] = fmt.Errorf("delete from %s: the answer does not mention this message", r.pair.DeadLetter.Name)
		}
	}
	return failed, nil
}

// retryDeletes deletes messages already sent in this run whose first delete
// failed and that came back: they are never sent twice.
func (r *redrive) retryDeletes(ctx context.Context, msgs []Message) {
	if len(msgs) == 0 {
		return
	}
	batch := make([]entry, len(msgs))
	for i, m := range msgs {
		batch[i] = entry{msg: m}
	}
	for start := 0; start < len(batch); start += 10 {
		part := batch[start:min(start+10, len(batch))]
		failed, _ := r.deleteBatch(ctx, part)
		for _, e := range part {
			if _, bad := failed[e.msg.ID]; bad {
				r.state[e.msg.ID] = deleteRetried
				continue
			}
			// Sent earlier and now deleted: no longer a duplicate.
			for i, o := range r.report.NotDeleted {
				if o.MessageID == e.msg.ID {
					r.report.NotDeleted = append(r.report.NotDeleted[:i], r.report.NotDeleted[i+1:]...)
					r.report.Moved = append(r.report.Moved, Outcome{MessageID: o.MessageID, To: o.To, Step: o.Step})
					break
				}
			}
			r.state[e.msg.ID] = moved
		}
	}
}

func (r *redrive) notSent(m Message, to string, err error) {
	r.state[m.ID] = notSent
	r.report.NotSent = append(r.report.NotSent, Outcome{MessageID: m.ID, To: to, Step: m.Step, Err: err})
}

// index parses a batch entry id back to its position.
func index(id *string, n int) (int, bool) {
	i, err := strconv.Atoi(aws.ToString(id))
	return i, err == nil && i >= 0 && i < n
}

// ErrDuplicates is wrapped by Report.Err when messages were sent but are
// still in the dead-letter queue.
var ErrDuplicates = errors.New("messages sent to their source queue are still in the dead-letter queue")

// ErrLeft is wrapped by Report.Err when messages could not be sent and stay
// in the dead-letter queue.
var ErrLeft = errors.New("messages could not be sent and stay in the dead-letter queue")

// Err summarises a report as an error: nil when every message taken was
// moved, else one wrapping ErrLeft and/or ErrDuplicates with the counts.
func (r Report) Err() error {
	var errs []error
	if n := len(r.NotSent); n > 0 {
		errs = append(errs, fmt.Errorf("%w: %d", ErrLeft, n))
	}
	if n := len(r.NotDeleted); n > 0 {
		errs = append(errs, fmt.Errorf("%w: %d (steps are idempotent on job and step, so the repeat is harmless)", ErrDuplicates, n))
	}
	return errors.Join(errs...)
}
