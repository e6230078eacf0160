package obs

import (
	"context"
	"fmt"
	"net/http"
	"reflect"
	"runtime"
	"strings"
	"time"

	"github.com/getsentry/sentry-go"
)

// ReporterOptions configure a Reporter.
type ReporterOptions struct {
	DSN           string            // SENTRY_DSN; empty disables reporting
	Release       string            // git commit
	Environment   string            // stage, e.g. "prod"
	ServerName    string            // e.g. the Lambda function name; default the host name
	HTTPTransport http.RoundTripper // optional; default a new http.Transport
}

// Reporter sends errors and panics to Sentry. A nil *Reporter is valid and
// reports nothing. It is safe for concurrent use.
type Reporter struct {
	client *sentry.Client
}

// correlationContext is the name of the Sentry event context that holds the
// ids.
const correlationContext = "correlation"

// NewReporter builds a Reporter with its own Sentry client. It returns
// (nil, nil) when opts.DSN is empty, and an error wrapping the
// *sentry.DsnParseError, naming SENTRY_DSN, when the DSN is invalid. It does
// no I/O.
func NewReporter(opts ReporterOptions) (*Reporter, error) {
	if opts.DSN == "" {
		return nil, nil
	}
	// Parsed here as well as in NewClient so the error can name the variable.
	if _, err := sentry.NewDsn(opts.DSN); err != nil {
		return nil, fmt.Errorf("obs: invalid SENTRY_DSN: %w", err)
	}
	client, err := sentry.NewClient(sentry.ClientOptions{
		Dsn:           opts.DSN,
		Release:       opts.Release,
		Environment:   opts.Environment,
		ServerName:    opts.ServerName,
		HTTPTransport: opts.HTTPTransport,
		// An explicit Transport also bypasses the telemetry buffer; saying
		// both keeps it off if that rule changes. See "Delivery" in doc.go.
		Transport:              sentry.NewHTTPTransport(),
		DisableTelemetryBuffer: true,
		// Metrics would start a batching goroutine that nothing here uses.
		DisableMetrics: true,
	})
	if err != nil {
		return nil, fmt.Errorf("obs: new sentry client: %w", err)
	}
	return &Reporter{client: client}, nil
}

// CaptureError queues an event at level error for err, tagged with the ids in
// ctx. It does nothing for a nil err or a nil Reporter. The event is sent in
// the background; call Flush before the process may be frozen.
func (r *Reporter) CaptureError(ctx context.Context, err error) {
	if r == nil || err == nil {
		return
	}
	event := r.client.EventFromException(err, sentry.LevelError)
	trimOwnFrames(event)
	r.client.CaptureEvent(event, &sentry.EventHint{Context: ctx, OriginalException: err}, scopeFor(ctx))
}

// CapturePanic queues an event at level fatal for a value returned by
// recover(), tagged with the ids in ctx and marked unhandled. Call it from
// the deferred function that recovered: its stack trace is the current
// goroutine's, which then still holds the panicking frames. It does nothing
// for a nil value or a nil Reporter.
func (r *Reporter) CapturePanic(ctx context.Context, recovered any) {
	if r == nil || recovered == nil {
		return
	}
	var event *sentry.Event
	if err, ok := recovered.(error); ok {
		event = r.client.EventFromException(err, sentry.LevelFatal)
	} else {
		event = sentry.NewEvent()
		event.Level = sentry.LevelFatal
		event.Exception = []sentry.Exception{{Type: "panic", Value: fmt.Sprint(recovered)}}
	}
	// The outermost exception is last; it carries the stack trace, which is
	// the panic's unless the error brought its own (pkg/errors and the like).
	top := &event.Exception[len(event.Exception)-1]
	if err, ok := recovered.(error); !ok || sentry.ExtractStacktrace(err) == nil {
		top.Stacktrace = panicStack()
	}
	if top.Mechanism == nil {
		top.Mechanism = &sentry.Mechanism{Type: "panic"}
	}
	top.Mechanism.SetUnhandled()
	trimOwnFrames(event)
	r.client.CaptureEvent(event, &sentry.EventHint{Context: ctx, RecoveredException: recovered}, scopeFor(ctx))
}

// Flush waits until every event captured before the call has been delivered,
// or timeout has passed. It returns false on timeout, when some events may be
// lost. On a nil Reporter it returns true at once.
func (r *Reporter) Flush(timeout time.Duration) bool {
	if r == nil {
		return true
	}
	return r.client.Flush(timeout)
}

// Close stops the transport's background goroutine. Events not yet flushed
// are dropped, so call Flush first. A Lambda process never needs Close; tests
// do. Close on a nil Reporter does nothing.
func (r *Reporter) Close() {
	if r == nil {
		return
	}
	r.client.Close()
}

// scopeFor returns a new scope with the ids of ctx as tags and as the
// correlation context. A scope per capture keeps concurrent captures apart.
func scopeFor(ctx context.Context) *sentry.Scope {
	scope := sentry.NewScope()
	fs := ids(ctx)
	if len(fs) == 0 {
		return scope
	}
	corr := make(sentry.Context, len(fs))
	for _, f := range fs {
		scope.SetTag(f.key, f.value)
		corr[f.key] = f.value
	}
	scope.SetContext(correlationContext, corr)
	return scope
}

// trimOwnFrames removes this package's frames from the top of the event's
// stack traces, so that Sentry's culprit is the caller's code.
func trimOwnFrames(event *sentry.Event) {
	pkg := reflect.TypeFor[Reporter]().PkgPath()
	for i := range event.Exception {
		st := event.Exception[i].Stacktrace
		if st == nil {
			continue
		}
		n := len(st.Frames) // oldest first: the top of the stack is last
		for n > 0 && st.Frames[n-1].Module == pkg {
			n--
		}
		if n > 0 {
			st.Frames = st.Frames[:n]
		}
	}
}

// panicStack returns the current goroutine's stack from the function that
// panicked down, leaving out the deferred function that recovered and
// everything it called: the culprit Sentry shows is then the panic site, not
// the recover helper that every panic goes through. When no panic is in
// progress it returns the whole stack.
func panicStack() *sentry.Stacktrace {
	pcs := make([]uintptr, 128)
	n := runtime.Callers(1, pcs)
	frames := runtime.CallersFrames(pcs[:n])
	var stack []runtime.Frame // most recent first
	cut := -1
	for {
		f, more := frames.Next()
		stack = append(stack, f)
		if cut < 0 && f.Function == "runtime.gopanic" {
			cut = len(stack) // the innermost panic: the one being recovered
		}
		if !more {
			break
		}
	}
	if cut > 0 {
		stack = stack[cut:]
	}

	out := make([]sentry.Frame, 0, len(stack))
	for i := len(stack) - 1; i >= 0; i-- { // Sentry wants the oldest frame first
		f := sentry.NewFrame(stack[i])
		if f.Module == "runtime" || f.Module == "testing" {
			continue
		}
		out = append(out, f)
	}
	// As sentry.NewStacktrace does: name a closure relative to its enclosing
	// function ("func1", not "Handler.func1") so grouping matches the SDK's.
	for i := len(out) - 1; i > 0; i-- {
		if parent := out[i-1].Function + "."; strings.HasPrefix(out[i].Function, parent) {
			out[i].Function = out[i].Function[len(parent):]
		}
	}
	return &sentry.Stacktrace{Frames: out}
}
