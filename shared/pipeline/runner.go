package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/redub/redub/shared/apperr"
	"github.com/redub/redub/shared/job"
	"github.com/redub/redub/shared/obs"
	"github.com/redub/redub/shared/postgres"
	"github.com/redub/redub/shared/queue"
	"github.com/redub/redub/shared/storage"
)

// Defaults for a Runner.
const (
	DefaultMaxAttempts = 3                // tries of one step before the job fails (below the queues' maxReceiveCount)
	DefaultLease       = 30 * time.Second // a running step whose row is older than this is taken over
	progressEvery      = 2 * time.Second  // at most one progress write per interval
	cancelEvery        = time.Second      // at most one cancellation check per interval
)

// ErrCanceled means the job was canceled while the step ran.
var ErrCanceled = errors.New("job canceled")

// ErrBusy means another worker holds the step; the message should come back later.
var ErrBusy = errors.New("step is running elsewhere")

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
type Output struct {
	Kind        string // unique per job: video, poster, speech_wav, transcript, srt, vtt, voiceover...
	Key         string
	Filename    string
	ContentType string
	SizeBytes   int64
}

// Permanent marks an error that retrying cannot fix.
type Permanent struct{ Err error }

func (p *Permanent) Error() string { return p.Err.Error() }
func (p *Permanent) Unwrap() error { return p.Err }

// Fail wraps err as permanent with a reason a person can read.
func Fail(format string, args ...any) error {
	return &Permanent{Err: fmt.Errorf(format, args...)}
}

// Classifier tells permanent errors from transient ones for errors the
// runner does not know (provider and media errors register here).
type Classifier func(err error) (permanent bool, known bool)

// Runner runs steps for messages.
type Runner struct {
	DB          *postgres.DB
	Queue       job.Enqueuer
	Log         *slog.Logger
	MaxAttempts int
	Lease       time.Duration
	Timeout     time.Duration // the step's budget; below the function's timeout
	Classify    []Classifier
	Now         func() time.Time
}

func (r *Runner) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// Context is a step's view of its job.
type Context struct {
	Job     job.Job
	AssetID uuid.UUID
	// Source is the object key of the uploaded file, SourceType its content
	// type and Filename the name the user gave it.
	Source, SourceType, Filename string
	Probe                        json.RawMessage
	Attempt                      int
	Dir                          string // a scratch directory, removed after the step

	runner  *Runner
	mu      sync.Mutex
	lastPct time.Time
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
	sc.mu.Lock()
	if time.Since(sc.lastPct) < progressEvery && percent < 100 {
		sc.mu.Unlock()
		return
	}
	sc.lastPct = time.Now()
	sc.mu.Unlock()
	if percent < 0 {
		percent = 0
	}
	if percent > 100 {
		percent = 100
	}
	if _, err := sc.runner.DB.Exec(ctx, `UPDATE job_steps SET progress_percent = $3, progress_stage = $4, updated_at = now()
		WHERE job_id = $1 AND step = $2 AND status = 'running'`, sc.Job.ID, step, percent, stage); err != nil {
		sc.runner.Log.WarnContext(ctx, "progress write failed", "error", err.Error())
	}
}

// Canceled reports whether the job was canceled (checked at most once a second).
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
	var canceled bool
	err := sc.runner.DB.QueryRow(ctx, `SELECT cancel_requested OR status = 'canceled' FROM jobs WHERE id = $1`, sc.Job.ID).Scan(&canceled)
	if err == nil && canceled {
		sc.cancel = true
	}
	return sc.cancel
}

// Handle runs step for one queue message body. A nil error means the
// message is done (including duplicates, canceled jobs and permanent
// failures, which are recorded on the job); an error means it should come back.
func (r *Runner) Handle(ctx context.Context, step Step, body string) error {
	msg, err := queue.Decode(body)
	if err != nil {
		r.Log.ErrorContext(ctx, "dropping malformed message", "error", err.Error())
		return nil
	}
	if msg.Step != step.Name() {
		r.Log.ErrorContext(ctx, "dropping message for another step", "want", step.Name(), "got", msg.Step)
		return nil
	}
	ctx = obs.With(obs.With(obs.With(ctx, obs.JobID, msg.JobID.String()), obs.Step, msg.Step), obs.TraceID, msg.TraceID)
	sc, proceed, err := r.claim(ctx, step.Name(), msg)
	if err != nil || !proceed {
		return err
	}
	dir, err := os.MkdirTemp("", "redub-"+step.Name()+"-")
	if err != nil {
		return fmt.Errorf("scratch dir: %w", err)
	}
	defer os.RemoveAll(dir)
	sc.Dir = dir

	start := r.now()
	wctx := ctx
	if r.Timeout > 0 {
		var cancel context.CancelFunc
		wctx, cancel = context.WithTimeout(ctx, r.Timeout)
		defer cancel()
	}
	stopBeat := r.heartbeat(ctx, sc.Job.ID, step.Name())
	res, werr := step.Work(wctx, sc)
	stopBeat()
	elapsed := r.now().Sub(start)
	if werr == nil && sc.Canceled(ctx) {
		werr = ErrCanceled
	}
	if werr != nil {
		return r.failed(ctx, sc, step.Name(), werr, elapsed)
	}
	next, err := r.succeed(ctx, sc, step.Name(), res, elapsed)
	if err != nil {
		return err
	}
	r.Log.InfoContext(ctx, "step succeeded", "duration_ms", elapsed.Milliseconds(), "next", next)
	if next != "" {
		return r.enqueue(ctx, sc.Job, next)
	}
	return nil
}

// claim locks the job and step and decides whether to work.
func (r *Runner) claim(ctx context.Context, step string, msg queue.Message) (*Context, bool, error) {
	sc := &Context{runner: r, Attempt: msg.Attempt}
	proceed := false
	var enqueueNext string
	err := r.DB.WithTx(ctx, func(tx pgx.Tx) error {
		var (
			status    job.Status
			canceled  bool
			stepState job.Status
			attempts  int
			updated   time.Time
		)
		err := tx.QueryRow(ctx, `SELECT status, cancel_requested FROM jobs WHERE id = $1 FOR UPDATE`, msg.JobID).Scan(&status, &canceled)
		if errors.Is(err, pgx.ErrNoRows) {
			r.Log.WarnContext(ctx, "dropping message for a job that no longer exists")
			return nil
		}
		if err != nil {
			return fmt.Errorf("lock job: %w", err)
		}
		err = tx.QueryRow(ctx, `SELECT status, attempts, updated_at FROM job_steps WHERE job_id = $1 AND step = $2 FOR UPDATE`,
			msg.JobID, step).Scan(&stepState, &attempts, &updated)
		if errors.Is(err, pgx.ErrNoRows) {
			r.Log.WarnContext(ctx, "dropping message: the job has no such step")
			return nil
		}
		if err != nil {
			return fmt.Errorf("lock step: %w", err)
		}
		switch {
		case canceled || status == job.Canceled:
			_, err := tx.Exec(ctx, `UPDATE job_steps SET status = 'canceled', finished_at = now(), updated_at = now()
				WHERE job_id = $1 AND step = $2 AND status NOT IN ('succeeded', 'failed', 'canceled', 'skipped')`, msg.JobID, step)
			return err
		case status.Terminal():
			return nil
		case stepState == job.Succeeded:
			// A repeated message: make sure the successor was sent.
			enqueueNext, err = nextQueuedNotSent(ctx, tx, msg.JobID)
			return err
		case stepState.Terminal():
			return nil
		case stepState == job.Running && r.now().Sub(updated) < r.lease():
			return ErrBusy
		case stepState == job.Pending:
			r.Log.WarnContext(ctx, "message for a step whose predecessor has not finished; it will come back")
			return ErrBusy
		}
		maxAttempts := r.MaxAttempts
		if maxAttempts == 0 {
			maxAttempts = DefaultMaxAttempts
		}
		if attempts >= maxAttempts {
			reason := fmt.Sprintf("%s did not finish after %d attempts", step, attempts)
			return failTx(ctx, tx, msg.JobID, step, reason)
		}
		if _, err := tx.Exec(ctx, `UPDATE job_steps SET status = 'running', attempts = attempts + 1, error = NULL,
			started_at = coalesce(started_at, now()), updated_at = now() WHERE job_id = $1 AND step = $2`, msg.JobID, step); err != nil {
			return fmt.Errorf("mark step running: %w", err)
		}
		if _, err := tx.Exec(ctx, `UPDATE jobs SET status = 'running', started_at = coalesce(started_at, now()), updated_at = now()
			WHERE id = $1`, msg.JobID); err != nil {
			return fmt.Errorf("mark job running: %w", err)
		}
		j, err := loadJob(ctx, tx, msg.JobID)
		if err != nil {
			return err
		}
		sc.Job = j
		if err := tx.QueryRow(ctx, `SELECT id, object_key, content_type, filename, coalesce(probe, '{}') FROM assets WHERE id = $1`, j.AssetID).
			Scan(&sc.AssetID, &sc.Source, &sc.SourceType, &sc.Filename, &sc.Probe); err != nil {
			return fmt.Errorf("load asset: %w", err)
		}
		sc.Attempt = attempts + 1
		proceed = true
		return nil
	})
	if errors.Is(err, ErrBusy) {
		return nil, false, err
	}
	if err != nil {
		return nil, false, err
	}
	if enqueueNext != "" {
		j, lerr := loadJob(ctx, r.DB, msg.JobID)
		if lerr != nil {
			return nil, false, lerr
		}
		return nil, false, r.enqueue(ctx, j, enqueueNext)
	}
	return sc, proceed, nil
}

// heartbeat renews the step's lease (every third of it) while it works, so a long provider call
// or FFmpeg run without progress is not taken for a dead worker.
func (r *Runner) heartbeat(ctx context.Context, jobID uuid.UUID, step string) func() {
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
				if _, err := r.DB.Exec(ctx, `UPDATE job_steps SET updated_at = now() WHERE job_id = $1 AND step = $2 AND status = 'running'`,
					jobID, step); err != nil {
					r.Log.WarnContext(ctx, "heartbeat failed", "error", err.Error())
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

func loadJob(ctx context.Context, q postgres.Querier, id uuid.UUID) (job.Job, error) {
	var j job.Job
	var params []byte
	err := q.QueryRow(ctx, `SELECT id, user_id, asset_id, recipe, params, status, trace_id, created_at FROM jobs WHERE id = $1`, id).
		Scan(&j.ID, &j.UserID, &j.AssetID, &j.Recipe, &params, &j.Status, &j.TraceID, &j.CreatedAt)
	if err != nil {
		return j, fmt.Errorf("load job: %w", err)
	}
	if err := json.Unmarshal(params, &j.Params); err != nil {
		return j, fmt.Errorf("decode params: %w", err)
	}
	return j, nil
}

// nextQueuedNotSent returns the step that is queued but was never sent.
func nextQueuedNotSent(ctx context.Context, tx pgx.Tx, jobID uuid.UUID) (string, error) {
	var step string
	err := tx.QueryRow(ctx, `SELECT step FROM job_steps WHERE job_id = $1 AND status = 'queued' AND enqueued_at IS NULL
		ORDER BY position LIMIT 1`, jobID).Scan(&step)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("find next step: %w", err)
	}
	return step, nil
}

// succeed records the step's result and queues the next step (or ends the job).
func (r *Runner) succeed(ctx context.Context, sc *Context, step string, res Result, elapsed time.Duration) (string, error) {
	usage := map[string]any{"duration_ms": elapsed.Milliseconds()}
	for k, v := range res.Usage {
		usage[k] = v
	}
	usageJSON, _ := json.Marshal(usage)
	next := ""
	err := r.DB.WithTx(ctx, func(tx pgx.Tx) error {
		var status job.Status
		var canceled bool
		if err := tx.QueryRow(ctx, `SELECT status, cancel_requested FROM jobs WHERE id = $1 FOR UPDATE`, sc.Job.ID).Scan(&status, &canceled); err != nil {
			return fmt.Errorf("lock job: %w", err)
		}
		if canceled || status.Terminal() {
			_, err := tx.Exec(ctx, `UPDATE job_steps SET status = 'canceled', finished_at = now(), updated_at = now()
				WHERE job_id = $1 AND step = $2 AND status = 'running'`, sc.Job.ID, step)
			return err
		}
		for _, o := range res.Outputs {
			if _, err := tx.Exec(ctx, `
				INSERT INTO outputs (id, job_id, step, kind, object_key, filename, content_type, size_bytes)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
				ON CONFLICT (job_id, kind) DO UPDATE SET object_key = EXCLUDED.object_key, filename = EXCLUDED.filename,
					content_type = EXCLUDED.content_type, size_bytes = EXCLUDED.size_bytes, step = EXCLUDED.step`,
				uuid.New(), sc.Job.ID, step, o.Kind, o.Key, o.Filename, o.ContentType, o.SizeBytes); err != nil {
				return fmt.Errorf("record output %s: %w", o.Kind, err)
			}
		}
		if _, err := tx.Exec(ctx, `UPDATE job_steps SET status = 'succeeded', progress_percent = 100, progress_stage = 'done',
			usage = $3, finished_at = now(), updated_at = now() WHERE job_id = $1 AND step = $2`, sc.Job.ID, step, string(usageJSON)); err != nil {
			return fmt.Errorf("mark step succeeded: %w", err)
		}
		err := tx.QueryRow(ctx, `UPDATE job_steps SET status = 'queued', updated_at = now()
			WHERE job_id = $1 AND position = (SELECT position + 1 FROM job_steps WHERE job_id = $1 AND step = $2) AND status = 'pending'
			RETURNING step`, sc.Job.ID, step).Scan(&next)
		if errors.Is(err, pgx.ErrNoRows) {
			next = ""
			var left int
			if err := tx.QueryRow(ctx, `SELECT count(*) FROM job_steps WHERE job_id = $1 AND status NOT IN ('succeeded', 'skipped')`,
				sc.Job.ID).Scan(&left); err != nil {
				return fmt.Errorf("count steps left: %w", err)
			}
			if left == 0 {
				if _, err := tx.Exec(ctx, `UPDATE jobs SET status = 'succeeded', finished_at = now(), updated_at = now() WHERE id = $1`, sc.Job.ID); err != nil {
					return fmt.Errorf("mark job succeeded: %w", err)
				}
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("queue next step: %w", err)
		}
		_, err = tx.Exec(ctx, `UPDATE jobs SET updated_at = now() WHERE id = $1`, sc.Job.ID)
		return err
	})
	return next, err
}

func (r *Runner) enqueue(ctx context.Context, j job.Job, step string) error {
	if err := r.Queue.Send(ctx, queue.Message{JobID: j.ID, Step: step, Attempt: 1, TraceID: j.TraceID}); err != nil {
		// The step stays queued without enqueued_at: the sweeper sends it.
		r.Log.WarnContext(ctx, "enqueue next step failed; the sweeper will send it", "next", step, "error", err.Error())
		return nil
	}
	if _, err := r.DB.Exec(ctx, `UPDATE job_steps SET enqueued_at = now(), updated_at = now() WHERE job_id = $1 AND step = $2`, j.ID, step); err != nil {
		r.Log.WarnContext(ctx, "mark enqueued failed", "next", step, "error", err.Error())
	}
	return nil
}

// failed records a failed attempt: canceled, permanent (the job fails now)
// or transient (the message comes back, unless attempts are used up).
func (r *Runner) failed(ctx context.Context, sc *Context, step string, werr error, elapsed time.Duration) error {
	switch {
	case errors.Is(werr, ErrCanceled) || sc.Canceled(ctx):
		_, err := r.DB.Exec(ctx, `UPDATE job_steps SET status = 'canceled', finished_at = now(), updated_at = now()
			WHERE job_id = $1 AND step = $2 AND status = 'running'`, sc.Job.ID, step)
		r.Log.InfoContext(ctx, "step stopped: job canceled", "duration_ms", elapsed.Milliseconds())
		return err
	case r.permanent(werr) || sc.Attempt >= r.maxAttempts():
		reason := Reason(step, werr)
		r.Log.WarnContext(ctx, "step failed", "reason", reason, "attempt", sc.Attempt)
		return r.DB.WithTx(ctx, func(tx pgx.Tx) error { return failTx(ctx, tx, sc.Job.ID, step, reason) })
	}
	r.Log.WarnContext(ctx, "step attempt failed; it will be retried", "attempt", sc.Attempt, "error", werr.Error())
	if _, err := r.DB.Exec(ctx, `UPDATE job_steps SET status = 'queued', error = $3, updated_at = now() - interval '1 hour'
		WHERE job_id = $1 AND step = $2 AND status = 'running'`, sc.Job.ID, step, truncate(werr.Error(), 2000)); err != nil {
		return errors.Join(werr, err)
	}
	return fmt.Errorf("%s attempt %d: %w", step, sc.Attempt, werr)
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

// failTx fails the step and its job with reason, and cancels later steps.
func failTx(ctx context.Context, tx pgx.Tx, jobID uuid.UUID, step, reason string) error {
	if _, err := tx.Exec(ctx, `UPDATE job_steps SET status = 'failed', error = $3, finished_at = now(), updated_at = now()
		WHERE job_id = $1 AND step = $2`, jobID, step, truncate(reason, 4000)); err != nil {
		return fmt.Errorf("mark step failed: %w", err)
	}
	if _, err := tx.Exec(ctx, `UPDATE job_steps SET status = 'canceled', finished_at = now(), updated_at = now()
		WHERE job_id = $1 AND status IN ('pending', 'queued')`, jobID); err != nil {
		return fmt.Errorf("cancel later steps: %w", err)
	}
	if _, err := tx.Exec(ctx, `UPDATE jobs SET status = 'failed', error = $2, finished_at = now(), updated_at = now()
		WHERE id = $1 AND status NOT IN ('succeeded', 'failed', 'canceled')`, jobID, truncate(reason, 4000)); err != nil {
		return fmt.Errorf("mark job failed: %w", err)
	}
	return nil
}

// Reason is the failure text a person sees on the job.
func Reason(step string, err error) string {
	msg := err.Error()
	if e, ok := apperr.As(err); ok {
		msg = e.Message
	}
	return fmt.Sprintf("%s failed: %s", step, strings.TrimSpace(msg))
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
