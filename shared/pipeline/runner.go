package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/redub/redub/shared/apperr"
	"github.com/redub/redub/shared/asset"
	"github.com/redub/redub/shared/job"
	"github.com/redub/redub/shared/obs"
	"github.com/redub/redub/shared/queue"
	"github.com/redub/redub/shared/storage"
)

// Defaults for a Runner.
const (
	DefaultMaxAttempts = 3                // tries of one step before the job fails (below the queues' maxReceiveCount)
	DefaultLease       = 30 * time.Second // a running step not renewed for this long is taken for dead
	// DefaultMargin is kept free before the invocation's deadline: the work
	// stops then, leaving time to record its outcome.
	DefaultMargin = 20 * time.Second
	progressEvery = 2 * time.Second // at most one progress write per interval
	cancelEvery   = time.Second     // at most one cancellation check per interval
	newerBackoff  = time.Minute     // a message of a newer version waits this long for newer code
)

// ErrCanceled means the job was canceled while the step ran.
var ErrCanceled = errors.New("job canceled")

// ErrBusy means another worker holds the step; the message should come back later.
var ErrBusy = errors.New("step is running elsewhere")

// errLeaseLost is the cause of the cancellation of a step's work when its
// attempt no longer holds the step.
var errLeaseLost = errors.New("the step's lease was taken over")

// Step is one kind of work.
type Step interface {
	// Name is the step's name (job.StepTranscode, ...).
	Name() string
	// Work does the step for one job. It writes its files through sc and
	// returns what to record.
	Work(ctx context.Context, sc *Context) (Result, error)
}

// Result is what a step produced.
type Result struct {
	Outputs []Output
	Usage   map[string]any // provider usage and figures: seconds, characters, tokens, ...
}

// Output is one file a step produced, already stored under Key.
type Output = job.NewOutput

// Permanent marks an error that retrying cannot fix.
type Permanent struct{ Err error }

func (p *Permanent) Error() string { return p.Err.Error() }
func (p *Permanent) Unwrap() error { return p.Err }

// Fail wraps err as permanent with a reason a person can read.
func Fail(format string, args ...any) error {
	return &Permanent{Err: fmt.Errorf(format, args...)}
}

// Classifier tells permanent errors from transient ones for errors the
// runner does not know (provider and media errors register here). A
// transient error may also say when to try again (a provider's Retry-After):
// wrap it with queue.Retry.
type Classifier func(err error) (permanent bool, known bool)

// Sources reads the asset a job works on.
type Sources interface {
	Get(ctx context.Context, userID, id uuid.UUID) (asset.Asset, error)
}

// Cleaner removes the files of a job that no longer exists.
type Cleaner interface {
	DeletePrefix(ctx context.Context, prefix string) (int, error)
}

// Runner runs steps for messages. It holds orchestration only: every change
// of job state goes through Jobs.
type Runner struct {
	Jobs        *job.Store
	Assets      Sources
	Queue       job.Enqueuer
	Files       Cleaner // may be nil in tests
	Log         *slog.Logger
	MaxAttempts int
	Lease       time.Duration
	// StepsPerUser is each user's share of this step's workers (fair.go).
	StepsPerUser int
	// Margin is kept free before the invocation's deadline (ctx.Deadline):
	// the step's work stops then, so its outcome can still be recorded.
	Margin   time.Duration
	Classify []Classifier
	// RetryDelay says how long a transient error asks to wait (a provider's
	// Retry-After, a paid call's lease in flight elsewhere); nil or false: the
	// queue's backoff.
	RetryDelay func(err error) (time.Duration, bool)
	// Describe says in plain words what went wrong, for the errors a person
	// may see on a job (media refused, a provider's refusal); nil or false:
	// "an internal error". Internals (stderr, S3 errors, variable names)
	// stay in the logs.
	Describe func(err error) (string, bool)
	// Meter is told of each invocation once its outcome is recorded (cost
	// per job, metrics); nil: none.
	Meter Meter
	// MemoryMB is the function's memory (AWS_LAMBDA_FUNCTION_MEMORY_SIZE),
	// recorded with each part's billed duration; 0: unknown.
	MemoryMB int
}

// supportID is what a failure reason gives a person to quote: the trace id
// every log line of the job carries, else the job id.
func supportID(j job.Job) string {
	if j.TraceID != "" {
		return j.TraceID
	}
	return j.ID.String()
}

// Context is a step's view of its job.
type Context struct {
	Job     job.Job
	AssetID uuid.UUID
	// Source is the object key of the verified upload, SourceType its content
	// type and Filename the name the user gave it.
	Source, SourceType, Filename string
	Probe                        json.RawMessage
	Attempt                      int
	Dir                          string // a scratch directory, removed after the step
	// Part is the part this invocation works on (1 for the first), 0 for a
	// whole step or a merge; Parts is how many parts the step was split
	// into (0 when it was not).
	Part, Parts int

	step    string
	merge   bool // the attempt merges the step's parts
	runner  *Runner
	mu      sync.Mutex
	lastPct time.Time
	stage   string // the last stage written
	lastChk time.Time
	cancel  bool
}

// Key returns the deterministic object key of one of this step's files.
func (sc *Context) Key(step, name string) string {
	return storage.JobKey(sc.Job.ID, step, name)
}

// Progress records the step's progress (0-100) and stage, at most every
// couple of seconds; it also renews the step's lease.
func (sc *Context) Progress(ctx context.Context, step string, percent float64, stage string) {
	if sc.Part > 0 {
		return // a part's progress is its row's status (job.PartCounts); its lease is the heartbeat's
	}
	sc.mu.Lock()
	// A new stage is always written (a person watching sees each one); only
	// repeated percentages of the same stage are thinned out.
	if time.Since(sc.lastPct) < progressEvery && percent < 100 && stage == sc.stage {
		sc.mu.Unlock()
		return
	}
	sc.lastPct, sc.stage = time.Now(), stage
	sc.mu.Unlock()
	if err := sc.runner.Jobs.Progress(ctx, sc.Job.ID, step, sc.Attempt, percent, stage); err != nil {
		sc.runner.Log.WarnContext(ctx, "progress write failed", "error", err.Error())
	}
}

// Canceled reports whether the job was canceled or deleted (checked at most
// once a second).
func (sc *Context) Canceled(ctx context.Context) bool {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if sc.cancel {
		return true
	}
	if time.Since(sc.lastChk) < cancelEvery {
		return false
	}
	sc.lastChk = time.Now()
	canceled, err := sc.runner.Jobs.CancelRequested(ctx, sc.Job.ID)
	if err == nil && canceled {
		sc.cancel = true
	}
	return sc.cancel
}

// Handle runs step for one queue message body. A nil error means the
// message is done (including duplicates, canceled jobs and permanent
// failures, which are recorded on the job); an error means it should come
// back, after the delay a queue.RetryError in it names.
func (r *Runner) Handle(ctx context.Context, step Step, body string) error {
	msg, err := queue.Decode(body)
	if errors.Is(err, queue.ErrNewer) {
		r.Log.WarnContext(ctx, "handing back a message for newer code", "error", err.Error())
		return queue.Retry(newerBackoff, err)
	}
	if err != nil {
		r.Log.ErrorContext(ctx, "dropping malformed message", "error", err.Error())
		return nil
	}
	if msg.Step != step.Name() {
		r.Log.ErrorContext(ctx, "dropping message for another step", "want", step.Name(), "got", msg.Step)
		return nil
	}
	ctx = obs.With(obs.With(obs.With(ctx, obs.JobID, msg.JobID.String()), obs.Step, msg.Step), obs.TraceID, msg.TraceID)
	if msg.Part > 0 || msg.Merge {
		p, ok := step.(Parted)
		if !ok {
			r.Log.ErrorContext(ctx, "dropping a part message for a step that does not run in parts", "part", msg.Part, "merge", msg.Merge)
			return nil
		}
		if msg.Merge {
			return r.handleMerge(ctx, p, msg)
		}
		return r.handlePart(ctx, p, msg)
	}
	c, err := r.Jobs.Claim(ctx, msg.JobID, step.Name(), r.claimOptions())
	if err != nil {
		return err
	}
	if r.dropped(ctx, c, msg) {
		return nil
	}
	if c.Outcome == job.Busy {
		return queue.Retry(c.RetryIn, fmt.Errorf("%s: %w", c.Note, ErrBusy))
	}
	err = r.run(ctx, step, c)
	r.unpark(ctx, c.Job.UserID, step.Name())
	return err
}

// dropped logs a claim that leaves nothing to do (and sends the successor it
// found unsent); it reports whether the claim was such a one.
func (r *Runner) dropped(ctx context.Context, c job.Claim, msg queue.Message) bool {
	if c.Outcome != job.Drop {
		return false
	}
	if c.Failed != "" {
		r.Log.WarnContext(ctx, "step failed", "reason", c.Failed)
	} else {
		r.Log.InfoContext(ctx, "message dropped", "why", c.Note, "message_attempt", msg.Attempt)
	}
	if c.Send != nil {
		r.send(ctx, *c.Send)
	}
	return true
}

// prepare builds the step's view of a claimed job: its asset and a scratch
// directory (the returned func removes it). An asset deleted meanwhile is
// ErrCanceled.
func (r *Runner) prepare(ctx context.Context, sc *Context) (func(), error) {
	a, err := r.Assets.Get(ctx, sc.Job.UserID, sc.Job.AssetID)
	switch {
	case apperr.CodeOf(err) == apperr.NotFound:
		return func() {}, ErrCanceled // deleted while queued
	case err != nil:
		return func() {}, fmt.Errorf("load asset: %w", err)
	}
	sc.AssetID, sc.Source, sc.SourceType, sc.Filename, sc.Probe = a.ID, a.ObjectKey, a.ContentType, a.Filename, a.Probe
	if len(sc.Probe) == 0 {
		sc.Probe = json.RawMessage(`{}`)
	}
	dir, err := os.MkdirTemp("", "redub-"+sc.step+"-")
	if err != nil {
		return func() {}, fmt.Errorf("scratch dir: %w", err)
	}
	sc.Dir = dir
	return func() { os.RemoveAll(dir) }, nil
}

// run does the claimed attempt and records its outcome. A step that runs in
// parts and whose media makes more than one range is split instead: its
// parts are sent, and the last one to finish sends the merge.
func (r *Runner) run(ctx context.Context, step Step, c job.Claim) error {
	start := time.Now()
	sc := &Context{Job: c.Job, Attempt: c.Attempt, step: step.Name(), runner: r}
	cleanup, err := r.prepare(ctx, sc)
	defer cleanup()
	if err != nil {
		return r.finish(ctx, sc, Result{}, err, 0)
	}
	work := step.Work
	if p, ok := step.(Parted); ok {
		if ranges := p.Parts(sc); len(ranges) > 1 {
			merge, err := r.split(ctx, sc, ranges, start)
			if err != nil || !merge {
				return err
			}
			// Every part had already succeeded (a merge whose worker died,
			// or whose message was lost): this attempt does the merge.
			sc.merge, work = true, p.Merge
		}
	}
	return r.work(ctx, sc, work, start, sc.merge)
}

// work runs fn (a whole step's Work or a merge) under the attempt's lease
// and deadline and records its outcome.
func (r *Runner) work(ctx context.Context, sc *Context, fn func(context.Context, *Context) (Result, error), start time.Time, merge bool) error {
	wctx, cancel := r.budget(ctx)
	defer cancel(nil)
	stopBeat := r.heartbeat(ctx, func(ctx context.Context) (bool, error) {
		return r.Jobs.Heartbeat(ctx, sc.Job.ID, sc.step, sc.Attempt)
	}, cancel)
	res, werr := fn(wctx, sc)
	stopBeat()
	if errors.Is(context.Cause(wctx), errLeaseLost) {
		// Another attempt holds the step now: its outcome is the one that counts.
		r.Log.WarnContext(ctx, "attempt abandoned: its lease was taken over", "attempt", sc.Attempt)
		return nil
	}
	if werr == nil && sc.Canceled(ctx) {
		werr = ErrCanceled
	}
	err := r.finish(ctx, sc, res, werr, time.Since(start))
	if r.Meter != nil {
		r.Meter.Invoked(ctx, Invocation{Job: sc.Job, Step: sc.step, Attempt: sc.Attempt, Merge: merge, Start: start,
			Elapsed: time.Since(start), Outputs: res.Outputs, Err: werr})
	}
	return err
}

// budget is the work's context: canceled with a cause when its lease is
// lost, and ended Margin before the invocation's deadline.
func (r *Runner) budget(ctx context.Context) (context.Context, context.CancelCauseFunc) {
	wctx, cancel := context.WithCancelCause(ctx)
	if deadline, ok := ctx.Deadline(); ok {
		var stop context.CancelFunc
		wctx, stop = context.WithDeadline(wctx, deadline.Add(-r.margin()))
		return wctx, func(cause error) { cancel(cause); stop() } // the cause first, so the deadline's context carries it
	}
	return wctx, cancel
}

// finish records the attempt's outcome: success (and the next step sent),
// cancellation, a permanent failure (the job fails) or a transient one (the
// message comes back after a backoff, until the attempts are used up).
func (r *Runner) finish(ctx context.Context, sc *Context, res Result, werr error, elapsed time.Duration) error {
	jobID, step := sc.Job.ID, sc.step
	switch {
	case werr == nil:
		usage := map[string]any{"duration_ms": elapsed.Milliseconds()}
		maps.Copy(usage, res.Usage)
		f, err := r.Jobs.Succeed(ctx, jobID, step, sc.Attempt, res.Outputs, usage)
		if err != nil {
			return err
		}
		if f.JobGone {
			r.removeFiles(ctx, jobID)
			return nil
		}
		if !f.Recorded {
			r.Log.WarnContext(ctx, "step finished, but its attempt no longer held it: nothing recorded", "attempt", sc.Attempt)
			return nil
		}
		next := ""
		if f.Next != nil {
			next = f.Next.Step
			r.send(ctx, *f.Next)
		}
		r.Log.InfoContext(ctx, "step succeeded", "duration_ms", elapsed.Milliseconds(), "next", next)
		return nil
	case errors.Is(werr, ErrCanceled) || sc.Canceled(ctx):
		r.Log.InfoContext(ctx, "step stopped: job canceled or deleted", "duration_ms", elapsed.Milliseconds())
		gone, err := r.Jobs.Stop(ctx, jobID, step)
		if gone {
			// The asset was deleted while the step ran: the step may have
			// written files after the delete removed the job's prefix.
			r.removeFiles(ctx, jobID)
		}
		return err
	case r.permanent(werr) || sc.Attempt >= r.maxAttempts()+merged(sc):
		reason := Reason(step, werr, r.Describe, supportID(sc.Job))
		r.Log.WarnContext(ctx, "step failed", "reason", reason, "attempt", sc.Attempt, "error", werr.Error())
		_, err := r.Jobs.Fail(ctx, jobID, step, reason)
		return err
	}
	r.Log.WarnContext(ctx, "step attempt failed; it will be retried", "attempt", sc.Attempt, "error", werr.Error())
	if err := r.Jobs.Retry(ctx, jobID, step, sc.Attempt, Reason(step, werr, r.Describe, supportID(sc.Job))); err != nil {
		return errors.Join(werr, err)
	}
	return r.handBack(werr, fmt.Errorf("%s attempt %d: %w", step, sc.Attempt, werr))
}

// handBack is err, the outcome of an attempt that failed transiently with
// werr, made to return its message after the delay werr asks for (a
// provider's Retry-After, a paid call's lease) when RetryDelay gives one;
// otherwise after the queue's backoff.
func (r *Runner) handBack(werr, err error) error {
	if r.RetryDelay != nil {
		if d, ok := r.RetryDelay(werr); ok && d > 0 {
			return queue.Retry(d, err)
		}
	}
	return err
}

// merged is the attempt the split of a merged step used (job.ClaimMerge
// allows the merge its attempts on top of it).
func merged(sc *Context) int {
	if sc.merge {
		return 1
	}
	return 0
}

func (r *Runner) removeFiles(ctx context.Context, jobID uuid.UUID) {
	if r.Files == nil {
		return
	}
	n, err := r.Files.DeletePrefix(ctx, storage.JobPrefix(jobID))
	if err != nil {
		r.Log.WarnContext(ctx, "remove files of a deleted job failed", "error", err.Error())
		return
	}
	r.Log.InfoContext(ctx, "removed files of a deleted job", "objects", n)
}

// send sends a dispatch after its transaction committed. A failed send
// leaves the step queued and unsent: the sweeper sends it.
func (r *Runner) send(ctx context.Context, d job.Dispatch) {
	if err := r.Jobs.Send(ctx, r.Queue, d); err != nil {
		r.Log.WarnContext(ctx, "send next step failed; the sweeper will send it", "next", d.Step, "error", err.Error())
	}
}

// heartbeat renews the step's lease (every third of it) while it works, so a
// long provider call or FFmpeg run without progress is not taken for a dead
// worker. When the attempt no longer holds the step it cancels the work.
func (r *Runner) heartbeat(ctx context.Context, renew func(context.Context) (bool, error), cancel context.CancelCauseFunc) func() {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(r.lease() / 3)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				held, err := renew(ctx)
				switch {
				case err != nil:
					r.Log.WarnContext(ctx, "heartbeat failed", "error", err.Error())
				case !held:
					cancel(errLeaseLost)
					return
				}
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

func (r *Runner) lease() time.Duration {
	if r.Lease > 0 {
		return r.Lease
	}
	return DefaultLease
}

func (r *Runner) margin() time.Duration {
	if r.Margin > 0 {
		return r.Margin
	}
	return DefaultMargin
}

func (r *Runner) maxAttempts() int {
	if r.MaxAttempts > 0 {
		return r.MaxAttempts
	}
	return DefaultMaxAttempts
}

func (r *Runner) permanent(err error) bool {
	var p *Permanent
	if errors.As(err, &p) {
		return true
	}
	switch apperr.CodeOf(err) {
	case apperr.Invalid, apperr.Unprocessable, apperr.NotFound, apperr.Forbidden, apperr.TooLarge, apperr.UnsupportedMedia:
		return true
	}
	for _, c := range r.Classify {
		if perm, known := c(err); known {
			return perm
		}
	}
	return false
}

// Reason is the failure text a person sees on the job. Errors written for
// people (apperr messages, Fail) are shown as they are, others as describe
// says (nil: none); anything else is "an internal error". The details stay in
// the logs, found by the support id (the job's trace id) that ends the text.
func Reason(step string, err error, describe func(error) (string, bool), supportID string) string {
	var msg string
	var p *Permanent
	e, isApp := apperr.As(err)
	switch {
	case errors.As(err, &p) && !isApp:
		msg = p.Err.Error()
	case isApp && e.Code != apperr.Internal && e.Code != apperr.Unavailable:
		msg = e.Message
	default:
		if describe != nil {
			if d, ok := describe(err); ok {
				msg = d
			}
		}
	}
	if msg == "" {
		msg = "an internal error stopped it"
	}
	reason := fmt.Sprintf("%s failed: %s", step, strings.TrimSpace(msg))
	if supportID != "" {
		reason += " (support id " + supportID + ")"
	}
	return reason
}
