package lambdarun

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/redub/redub/shared/obs"
	"github.com/redub/redub/shared/queue"
)

// SQSHandler is the Lambda handler for an SQS event source with
// ReportBatchItemFailures.
type SQSHandler func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error)

// errNoTime is why a message the invocation had no time for is handed back.
var errNoTime = errors.New("not started: the invocation had no time left for it")

// VisibilityChanger is the SQS call SQS makes to hand a failed message back.
type VisibilityChanger interface {
	ChangeMessageVisibility(ctx context.Context, in *sqs.ChangeMessageVisibilityInput, opts ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityOutput, error)
}

// SQS calls fn once per message. A message whose call fails or panics is
// reported in batchItemFailures, and handed back to its queue with a backoff
// (ChangeMessageVisibility): the delay a queue.RetryError in the error asks
// for, else queue.Backoff of its receive count. So a transient failure comes
// back in seconds to minutes, not after the queue's visibility timeout (which
// stays at 6x the function's timeout). The others are deleted. Errors are
// logged and reported to Sentry, which is flushed before return.
func SQS(app *App, fn func(ctx context.Context, msg events.SQSMessage) error) SQSHandler {
	return SQSWithBudget(app, 0, fn)
}

// SQSWithBudget is SQS for batches of several messages: a message is started
// only while the invocation has at least perMessage left (its deadline), and
// each runs with a deadline of at most perMessage. The messages not reached
// are reported as batch item failures and come back at once, for another
// invocation: one slow message never times out the whole batch. perMessage 0
// means no budget.
func SQSWithBudget(app *App, perMessage time.Duration, fn func(ctx context.Context, msg events.SQSMessage) error) SQSHandler {
	return func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
		var res events.SQSEventResponse
		failed := false
		deadline, hasDeadline := ctx.Deadline()
		for i, msg := range ev.Records {
			if perMessage > 0 && hasDeadline && time.Until(deadline) < perMessage {
				for _, rest := range ev.Records[i:] {
					res.BatchItemFailures = append(res.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: rest.MessageId})
					app.handBack(ctx, rest, queue.Retry(time.Second, errNoTime))
				}
				app.Log.WarnContext(ctx, "no time left in this invocation; handing the rest of the batch back", "left", len(ev.Records)-i)
				break
			}
			mctx := obs.With(ctx, obs.RequestID, msg.MessageId)
			start := time.Now()
			err := callSafely(mctx, app, func(c context.Context) error {
				if perMessage > 0 {
					var cancel context.CancelFunc
					c, cancel = context.WithTimeout(c, perMessage)
					defer cancel()
				}
				return fn(c, msg)
			})
			if err == nil {
				app.Log.InfoContext(mctx, "message done", "message_id", msg.MessageId,
					"duration_ms", float64(time.Since(start).Microseconds())/1000)
				continue
			}
			res.BatchItemFailures = append(res.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: msg.MessageId})
			delay := app.handBack(mctx, msg, err)
			if _, planned := queue.RetryAfter(err); planned {
				// A planned hand-back (busy elsewhere, rate limited): no error report.
				app.Log.InfoContext(mctx, "message handed back", "message_id", msg.MessageId,
					"visible_in_s", delay.Seconds(), "reason", err.Error())
				continue
			}
			failed = true
			app.Log.ErrorContext(mctx, "message failed", "message_id", msg.MessageId,
				"receive_count", msg.Attributes["ApproximateReceiveCount"], "visible_in_s", delay.Seconds(), "error", err.Error())
			app.Reporter.CaptureError(mctx, err)
		}
		if failed {
			app.Reporter.Flush(2 * time.Second)
		}
		return res, nil
	}
}

// handBack sets the failed message's visibility to its retry delay and
// returns that delay (0 when it could not: the message then comes back after
// the queue's visibility timeout).
func (a *App) handBack(ctx context.Context, msg events.SQSMessage, err error) time.Duration {
	delay, ok := queue.RetryAfter(err)
	if !ok {
		n, _ := strconv.Atoi(msg.Attributes["ApproximateReceiveCount"])
		delay = queue.Backoff(max(n, 1), 0.8+0.4*rand.Float64()) //nolint:gosec // jitter, not a secret
	}
	delay = min(max(delay, time.Second), 12*time.Hour)
	url := a.queueURL(msg.EventSourceARN)
	vc, verr := a.visibility(ctx)
	if url == "" || verr != nil {
		a.Log.WarnContext(ctx, "cannot hand the message back early; it returns after the queue's visibility timeout",
			"queue_arn", msg.EventSourceARN, "error", fmt.Sprint(verr))
		return 0
	}
	secs := int32((delay + time.Second - 1) / time.Second) //nolint:gosec // at most 12 h
	if _, cerr := vc.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{
		QueueUrl: &url, ReceiptHandle: &msg.ReceiptHandle, VisibilityTimeout: secs,
	}); cerr != nil {
		a.Log.WarnContext(ctx, "change message visibility failed; it returns after the queue's visibility timeout", "error", cerr.Error())
		return 0
	}
	return time.Duration(secs) * time.Second
}

// queueURL finds the URL of the queue an event came from among the
// configured queue URLs (<STEP>_QUEUE_URL): a queue's URL ends with its
// name, as its ARN does.
func (a *App) queueURL(arn string) string {
	i := strings.LastIndexByte(arn, ':')
	if i < 0 || a.Config == nil {
		return ""
	}
	name := arn[i+1:]
	for _, u := range a.Config.Queues.All() {
		if strings.HasSuffix(u, "/"+name) {
			return u
		}
	}
	return ""
}

// visibility returns the SQS client for ChangeMessageVisibility, made on
// first use (tests may set it beforehand with SetVisibilityChanger).
func (a *App) visibility(ctx context.Context) (VisibilityChanger, error) {
	a.visOnce.Do(func() {
		if a.vis != nil {
			return
		}
		cfg, err := a.AWS(ctx)
		if err != nil {
			a.visErr = err
			return
		}
		a.vis = queue.NewClient(cfg, a.getenv)
	})
	return a.vis, a.visErr
}

// SetVisibilityChanger replaces the SQS client SQS hands messages back with.
func (a *App) SetVisibilityChanger(v VisibilityChanger) { a.vis = v }

// S3Handler is the Lambda handler for S3 event notifications.
type S3Handler func(ctx context.Context, ev events.S3Event) error

// S3 calls fn once per record. Any failure fails the invocation (S3 retries
// asynchronous invocations), after every record has been tried.
func S3(app *App, fn func(ctx context.Context, rec events.S3EventRecord) error) S3Handler {
	return func(ctx context.Context, ev events.S3Event) error {
		var firstErr error
		for _, rec := range ev.Records {
			rctx := obs.With(ctx, obs.RequestID, rec.ResponseElements["x-amz-request-id"])
			if err := callSafely(rctx, app, func(c context.Context) error { return fn(c, rec) }); err != nil {
				app.Log.ErrorContext(rctx, "s3 record failed", "bucket", rec.S3.Bucket.Name, "key", rec.S3.Object.Key, "error", err.Error())
				app.Reporter.CaptureError(rctx, err)
				if firstErr == nil {
					firstErr = fmt.Errorf("s3 record %s: %w", rec.S3.Object.Key, err)
				}
			}
		}
		if firstErr != nil {
			app.Reporter.Flush(2 * time.Second)
		}
		return firstErr
	}
}

// ScheduledHandler is the Lambda handler for EventBridge schedules.
type ScheduledHandler func(ctx context.Context, ev events.EventBridgeEvent) error

// Scheduled calls fn for a scheduled event; a failure fails the invocation.
func Scheduled(app *App, fn func(ctx context.Context, ev events.EventBridgeEvent) error) ScheduledHandler {
	return func(ctx context.Context, ev events.EventBridgeEvent) error {
		ctx = obs.With(ctx, obs.RequestID, ev.ID)
		if err := callSafely(ctx, app, func(c context.Context) error { return fn(c, ev) }); err != nil {
			app.Log.ErrorContext(ctx, "scheduled run failed", "error", err.Error())
			app.Reporter.CaptureError(ctx, err)
			app.Reporter.Flush(2 * time.Second)
			return err
		}
		return nil
	}
}

// callSafely runs fn, turning a panic into an error (and a Sentry event).
func callSafely(ctx context.Context, app *App, fn func(context.Context) error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			app.Log.ErrorContext(ctx, "panic", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			app.Reporter.CapturePanic(ctx, p)
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	return fn(ctx)
}
