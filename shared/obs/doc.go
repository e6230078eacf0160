// Package obs is how every function reports what it is doing: JSON log lines
// on stdout for CloudWatch, and errors and panics to Sentry, both tagged with
// the same correlation ids.
//
// # Correlation ids
//
// The ids of the work in hand (RequestID, JobID, Step, TraceID, Function)
// travel in the context.Context. With adds one; Fields reads them all back.
// The set is immutable: With copies it, so a child context never changes what
// its parent sees, and goroutines may share a context freely.
//
// # Logs
//
// NewLogger returns a *slog.Logger that writes one JSON object per line. Its
// handler copies the context ids into every record logged through the
// *Context methods (InfoContext, ErrorContext, LogAttrs, ...), as top-level
// keys even under Logger.WithGroup, so that a CloudWatch Logs Insights query
// such as
//
//	filter request_id = "..." | sort @timestamp
//
// finds every line of a request whichever package wrote it. Logging without a
// context (Info, Error) writes no ids; pass the ctx.
//
// Ids are added, not merged: a record that also carries an explicit
// "request_id" attribute gets the key twice.
//
// # Sentry
//
// NewReporter builds a Sentry client of its own; it never touches sentry-go's
// global hub, so tests and several reporters in one process do not interfere.
// Each capture gets a fresh scope carrying the context ids twice: as tags
// (searchable, shown in the issue list) and as a "correlation" context (shown
// on the event page). sentry-go v0.46 removed Event.Extra, so contexts are the
// place for extra data. The ids are not put in Sentry's "trace" context: an
// X-Ray trace id is not a Sentry trace id.
//
// Sentry is optional. With no SENTRY_DSN, NewReporter returns a nil *Reporter
// and every method on it does nothing, so callers never check.
//
// # Delivery before the handler returns
//
// Lambda freezes the execution environment as soon as the handler returns, so
// an event still queued in a background goroutine may be sent minutes later
// or never. The Lambda adapter therefore calls Flush before it returns each
// invocation. NewReporter uses sentry-go's HTTPTransport (asynchronous, one
// worker goroutine) and turns off the SDK's newer "telemetry buffer":
//
//   - HTTPTransport enqueues the event during CaptureError itself, and its
//     Flush returns true only after every event enqueued before the call has
//     been POSTed and answered, so "Flush returned true" means "delivered".
//   - The telemetry buffer, on by default since v0.46.0, hands events from a
//     scheduler goroutine to a second queue; a Flush that runs between the
//     two can find both empty and return true before the event is sent.
//   - HTTPSyncTransport would also be correct, but it sends inside
//     CaptureError, bounded only by the HTTP client's 30 s timeout, and its
//     Flush ignores the timeout it is given. With HTTPTransport the capture
//     never blocks on the network and Flush(timeout) is the one bounded wait.
//
// # Stack traces
//
// CapturePanic must be called from the deferred function that recovered, while
// the panicking frames are still on the goroutine's stack: that is where its
// stack trace comes from. The trace starts at the function that panicked; the
// deferred function and what it called are cut off, so the culprit Sentry
// shows is the panic site, not the recover helper every panic goes through.
// (sentry-go's own Recover attaches no stack trace at all to a panic with a
// non-error value.) CaptureError's trace is the caller's stack, with this
// package's frames trimmed from the top.
//
// Release should be the git commit and Environment the stage. When Release is
// empty, sentry-go guesses one (SENTRY_RELEASE and other variables, the build
// info, or by running "git describe"); when Environment is empty it reads
// SENTRY_ENVIRONMENT. Set both.
package obs
