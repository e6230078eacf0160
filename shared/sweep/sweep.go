// Package sweep is the scheduled sweeper: every minute it re-sends steps
// and parts that were queued but never sent, hands steps and parts whose
// worker died (an expired lease) to another worker, fails a job only when
// the current message of one of its steps or parts reached a dead-letter
// queue (removing stale dead letters), removes pending uploads older than a
// day, and writes the job-end metrics of the jobs that ended (cost.Ends,
// from the job_events outbox). It writes no table itself: it asks the job,
// asset, rate limit and session stores.
package sweep

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/redub/redub/shared/asset"
	"github.com/redub/redub/shared/job"
	"github.com/redub/redub/shared/queue"
	"github.com/redub/redub/shared/storage"
)

// Defaults of a Sweeper.
const (
	// DefaultLeaseEvery is how often, within one scheduled run, the sweeper
	// looks again for expired leases: the schedule fires once a minute (the
	// shortest EventBridge rate), and a dead worker's step should restart
	// well inside 90 seconds.
	DefaultLeaseEvery = 15 * time.Second
	unsentGrace       = time.Minute
	batch             = 100
)

// DeadLetters is the SQS calls the sweeper makes on dead-letter queues.
type DeadLetters interface {
	ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, opts ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	DeleteMessage(ctx context.Context, in *sqs.DeleteMessageInput, opts ...func(*sqs.Options)) (*sqs.DeleteMessageOutput, error)
}

// Uploads is the part of storage the sweeper uses for stale uploads.
type Uploads interface {
	AbortMultipart(ctx context.Context, key, uploadID string) error
	DeletePrefix(ctx context.Context, prefix string) (int, error)
}

// Sweeper is one sweep's dependencies.
type Sweeper struct {
	Jobs        *job.Store
	Assets      *asset.Store
	Queue       job.Enqueuer
	DeadLetters DeadLetters
	DLQURLs     []string
	Uploads     Uploads
	Log         *slog.Logger
	Lease       time.Duration // the steps' lease (STEP_LEASE_SECONDS)
	// LeaseEvery is the pause between lease checks within a run (default
	// DefaultLeaseEvery); checks go on while the invocation has time left.
	LeaseEvery time.Duration
	// Cleanup removes expired rows of other tables (rate limits, sessions).
	Cleanup func(ctx context.Context) error
	// Webhooks sends the webhook deliveries of the jobs that ended
	// (webhook.Store.Dispatch); nil without a webhook queue. It runs with
	// every lease check too, so an event waits seconds, not a minute.
	Webhooks func(ctx context.Context) (int, error)
	// JobMetrics writes the job-end metrics of the jobs that ended
	// (cost.Ends.Write); nil: none. It runs with every lease check too.
	JobMetrics func(ctx context.Context) (int, error)
}

// Report is what one sweep did.
type Report struct {
	Resent           int // queued steps and parts that had never been sent
	Restarted        int // running steps and parts whose lease expired, sent again
	FailedDeadLetter int // jobs failed because a step's current message was dead-lettered
	StaleDeadLetters int // dead letters of older sends or settled steps, removed
	UploadsRemoved   int
	WebhooksSent     int // webhook deliveries sent to their queue
	JobEndsMetered   int // job ends whose metrics were written
}

// Run does one sweep. It carries on past a failing part and returns the
// parts' errors joined.
func (s *Sweeper) Run(ctx context.Context) (Report, error) {
	var r Report
	var errs []error
	add := func(n *int, v int, err error) {
		*n += v
		if err != nil {
			errs = append(errs, err)
		}
	}
	n, err := s.resend(ctx)
	add(&r.Resent, n, err)
	n, err = s.restartExpired(ctx)
	add(&r.Restarted, n, err)
	failed, stale, err := s.deadLetters(ctx)
	add(&r.FailedDeadLetter, failed, err)
	r.StaleDeadLetters = stale
	n, err = s.removeStaleUploads(ctx)
	add(&r.UploadsRemoved, n, err)
	if s.Cleanup != nil {
		if err := s.Cleanup(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if s.Webhooks != nil {
		n, err = s.Webhooks(ctx)
		add(&r.WebhooksSent, n, err)
	}
	// After the dead letters: a job they failed is metered in this run.
	if s.JobMetrics != nil {
		n, err = s.JobMetrics(ctx)
		add(&r.JobEndsMetered, n, err)
	}
	s.Log.InfoContext(ctx, "sweep", "resent", r.Resent, "restarted", r.Restarted, "failed_dead_letter", r.FailedDeadLetter,
		"stale_dead_letters", r.StaleDeadLetters, "uploads_removed", r.UploadsRemoved, "webhooks_sent", r.WebhooksSent,
		"job_ends_metered", r.JobEndsMetered)
	return r, errors.Join(errs...)
}

// Handle is the scheduled handler: one sweep, then more lease checks (with
// webhook dispatch and job-end metrics) every LeaseEvery while the
// invocation has time for them.
func (s *Sweeper) Handle(ctx context.Context, _ events.EventBridgeEvent) error {
	_, err := s.Run(ctx)
	every := s.LeaseEvery
	if every <= 0 {
		every = DefaultLeaseEvery
	}
	deadline, ok := ctx.Deadline()
	for ok && time.Until(deadline) > every+5*time.Second {
		select {
		case <-ctx.Done():
			return err
		case <-time.After(every):
		}
		if _, lerr := s.restartExpired(ctx); lerr != nil {
			err = errors.Join(err, lerr)
		}
		if s.Webhooks != nil {
			if _, werr := s.Webhooks(ctx); werr != nil {
				err = errors.Join(err, werr)
			}
		}
		if s.JobMetrics != nil {
			if _, merr := s.JobMetrics(ctx); merr != nil {
				err = errors.Join(err, merr)
			}
		}
	}
	return err
}

func (s *Sweeper) resend(ctx context.Context) (int, error) {
	list, err := s.Jobs.Unsent(ctx, unsentGrace, batch)
	if err != nil {
		return 0, err
	}
	n, err := s.sendAll(ctx, list)
	if err != nil {
		return n, err
	}
	parts, err := s.Jobs.UnsentParts(ctx, unsentGrace, batch)
	if err != nil {
		return n, err
	}
	m, err := s.sendParts(ctx, parts)
	return n + m, err
}

// restartExpired sends again the steps whose worker stopped renewing its
// lease (killed, out of memory, timed out, cut off from the database).
// A part whose worker stopped is sent again alone; the step's other parts
// go on.
func (s *Sweeper) restartExpired(ctx context.Context) (int, error) {
	list, err := s.Jobs.Expired(ctx, s.Lease, batch)
	for _, d := range list {
		s.Log.WarnContext(ctx, "step lease expired; sending it again", "job_id", d.JobID.String(), "step", d.Step, "dispatch", d.Attempt)
	}
	n, serr := s.sendAll(ctx, list)
	parts, perr := s.Jobs.ExpiredParts(ctx, s.Lease, batch)
	for _, d := range parts {
		s.Log.WarnContext(ctx, "part lease expired; sending it again", "job_id", d.JobID.String(), "step", d.Step, "part", d.Part, "dispatch", d.Attempt)
	}
	m, pserr := s.sendParts(ctx, parts)
	return n + m, errors.Join(err, serr, perr, pserr)
}

func (s *Sweeper) sendParts(ctx context.Context, list []job.PartDispatch) (int, error) {
	n := 0
	for _, d := range list {
		if err := s.Jobs.SendPart(ctx, s.Queue, d); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

func (s *Sweeper) sendAll(ctx context.Context, list []job.Dispatch) (int, error) {
	n := 0
	for _, d := range list {
		if err := s.Jobs.Send(ctx, s.Queue, d); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// deadLetters judges what reached the dead-letter queues: only the current
// message of a step that has not ended fails its job; stale ones (an older
// send, a step that succeeded, a job that ended or is gone) are removed and
// logged. The messages that failed a job stay for `redub dlq`.
func (s *Sweeper) deadLetters(ctx context.Context) (failed, stale int, err error) {
	for _, url := range s.DLQURLs {
		out, err := s.DeadLetters.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &url, MaxNumberOfMessages: 10,
			VisibilityTimeout: 30, MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameAll}})
		if err != nil {
			return failed, stale, fmt.Errorf("peek dead letters %s: %w", url, err)
		}
		for _, m := range out.Messages {
			msg, err := queue.Decode(*m.Body)
			if err != nil {
				continue // an S3 event (ingest): the asset stays pending and the upload sweep removes it
			}
			v, err := s.judge(ctx, msg)
			if err != nil {
				return failed, stale, err
			}
			switch v {
			case job.DeadFailed:
				failed++
				s.Log.WarnContext(ctx, "job failed by the sweeper: its step's current message reached the dead-letter queue", "job_id", msg.JobID.String(), "step", msg.Step,
					"part", msg.Part, "merge", msg.Merge)
			case job.DeadStale:
				stale++
				s.Log.InfoContext(ctx, "removing a stale dead letter", "job_id", msg.JobID.String(), "step", msg.Step,
					"part", msg.Part, "message_attempt", msg.Attempt, "message_id", deref(m.MessageId))
				if _, err := s.DeadLetters.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: &url, ReceiptHandle: m.ReceiptHandle}); err != nil {
					return failed, stale, fmt.Errorf("remove stale dead letter: %w", err)
				}
			}
		}
	}
	return failed, stale, nil
}

// judge asks the job store about one dead letter: a part's message is
// judged against its part, a whole step's or a merge's against its step.
func (s *Sweeper) judge(ctx context.Context, msg queue.Message) (job.DeadVerdict, error) {
	if msg.Part > 0 {
		reason := fmt.Sprintf("%s part %d failed repeatedly; its message was moved to the dead-letter queue", msg.Step, msg.Part)
		d := job.PartDispatch{JobID: msg.JobID, Step: msg.Step, Part: msg.Part, Attempt: msg.Attempt, TraceID: msg.TraceID}
		return s.Jobs.DeadLetterPart(ctx, d, s.Lease, reason)
	}
	what := msg.Step
	if msg.Merge {
		what += " merge"
	}
	reason := fmt.Sprintf("%s failed repeatedly; its message was moved to the dead-letter queue", what)
	d := job.Dispatch{JobID: msg.JobID, Step: msg.Step, Attempt: msg.Attempt, TraceID: msg.TraceID, Merge: msg.Merge}
	return s.Jobs.DeadLetter(ctx, d, s.Lease, reason)
}

// removeStaleUploads deletes pending uploads older than a day: their
// multipart uploads are aborted, their bytes and rows removed.
func (s *Sweeper) removeStaleUploads(ctx context.Context) (int, error) {
	list, err := s.Assets.StalePending(ctx, 24*time.Hour, batch)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, a := range list {
		if a.UploadID != nil {
			if err := s.Uploads.AbortMultipart(ctx, a.ObjectKey, *a.UploadID); err != nil {
				return n, err
			}
		}
		if _, err := s.Uploads.DeletePrefix(ctx, storage.UploadPrefix(a.UserID, a.ID)); err != nil {
			return n, err
		}
		if err := s.Assets.DeletePending(ctx, a.ID); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
