package lambdarun

import (
	"context"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/redub/redub/shared/obs"
)

// SQSHandler is the Lambda handler for an SQS event source with
// ReportBatchItemFailures.
type SQSHandler func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error)

// SQS calls fn once per message. A message whose call fails or panics is
// reported in batchItemFailures, so only it comes back after the visibility
// timeout; the others are deleted. Errors are logged and reported to Sentry,
// which is flushed before return.
func SQS(app *App, fn func(ctx context.Context, msg events.SQSMessage) error) SQSHandler {
	return func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
		var res events.SQSEventResponse
		failed := false
		for _, msg := range ev.Records {
			mctx := obs.With(ctx, obs.RequestID, msg.MessageId)
			start := time.Now()
			if err := callSafely(mctx, app, func(c context.Context) error { return fn(c, msg) }); err != nil {
				failed = true
				res.BatchItemFailures = append(res.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: msg.MessageId})
				app.Log.ErrorContext(mctx, "message failed", "message_id", msg.MessageId,
					"receive_count", msg.Attributes["ApproximateReceiveCount"], "error", err.Error())
				app.Reporter.CaptureError(mctx, err)
				continue
			}
			app.Log.InfoContext(mctx, "message done", "message_id", msg.MessageId,
				"duration_ms", float64(time.Since(start).Microseconds())/1000)
		}
		if failed {
			app.Reporter.Flush(2 * time.Second)
		}
		return res, nil
	}
}

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
