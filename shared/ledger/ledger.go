package ledger

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/redub/redub/shared/apperr"
	"github.com/redub/redub/shared/postgres"
	"github.com/redub/redub/shared/storage"
)

// Defaults for Options.
const (
	DefaultLease = 30 * time.Second
	DefaultPoll  = 250 * time.Millisecond
)

// Options configure a Ledger. Zero values take the defaults.
type Options struct {
	// Lease is how long a claim on a call stays live without renewal
	// (default DefaultLease). Do renews it every Lease/3 while fn runs, so a
	// holder that dies frees the call within one Lease. Every Ledger sharing
	// a database should use the same value.
	Lease time.Duration
	// Wait is how long Do waits for another holder's call to finish before it
	// gives up with ErrInFlight (default 0: it does not wait).
	Wait time.Duration
	// Poll is how often Do looks again while it waits (default DefaultPoll).
	Poll time.Duration
	// Blobs stores and finds binary results (Outcome.Body at
	// Outcome.ResultKey). Needed only by calls that return a Body.
	Blobs Blobs
	// RecordFor is how long Do keeps trying to record a paid outcome when the
	// database refuses (default DefaultRecordFor).
	RecordFor time.Duration
}

// DefaultRecordFor is how long Do keeps trying to record a paid outcome.
const DefaultRecordFor = 20 * time.Second

// Blobs is the object store a Ledger keeps binary results in.
type Blobs interface {
	Put(ctx context.Context, key, contentType string, body io.Reader, size int64) error
	Head(ctx context.Context, key string) (storage.Object, error)
}

// Ledger records paid provider calls in provider_calls so that none is paid
// twice. It is safe for concurrent use, and any number of Ledgers (in any
// number of processes) may share one database.
type Ledger struct {
	db   *postgres.DB
	opts Options
}

// New returns a Ledger with the default Options that keeps its records in db.
func New(db *postgres.DB) *Ledger { return NewWithOptions(db, Options{}) }

// NewWithOptions returns a Ledger that keeps its records in db.
func NewWithOptions(db *postgres.DB, opts Options) *Ledger {
	if opts.Lease <= 0 {
		opts.Lease = DefaultLease
	}
	if opts.Poll <= 0 {
		opts.Poll = DefaultPoll
	}
	if opts.RecordFor <= 0 {
		opts.RecordFor = DefaultRecordFor
	}
	return &Ledger{db: db, opts: opts}
}

// Call describes one paid call.
type Call struct {
	Provider  string    // "openai", "elevenlabs"
	Operation string    // "transcribe", "translate", "speech"...
	UserID    uuid.UUID // whose call it is: part of the hash, so no one reuses another's result
	JobID     uuid.UUID // the job that pays, or uuid.Nil; must name an existing job (its row goes with it)
	Step      string    // the job step that makes the call, or ""
	// Request is everything that decides the result (model, options, the
	// input or a digest of it), hashed as canonical JSON with UserID,
	// Provider and Operation. Two Calls with equal hashes are the same call,
	// whatever their JobID or Step.
	Request any
}

// Outcome is the result of a call.
type Outcome struct {
	Result    json.RawMessage // a JSON result (transcript, translation...), or nil
	ResultKey string          // the object key of a binary result, or ""
	// Body is a binary result (audio) that Do stores at ResultKey once the
	// call's success is recorded (Options.Blobs); a reused outcome has none.
	Body        []byte
	ContentType string
	Usage       json.RawMessage // what the call consumed (JSON), or nil
	Reused      bool            // true when the stored outcome of an earlier call was returned
}

// Status is the state of a recorded call.
type Status string

// The states of a call.
const (
	Pending   Status = "pending" // claimed; running now, or its holder died and its lease will expire
	Succeeded Status = "succeeded"
	Failed    Status = "failed"
)

// Record is one row of provider_calls.
type Record struct {
	ID          uuid.UUID
	RequestHash []byte
	Provider    string
	Operation   string
	JobID       uuid.UUID // uuid.Nil when none (or the job was deleted)
	Step        string
	Status      Status
	Attempts    int
	Result      json.RawMessage
	ResultKey   string
	Usage       json.RawMessage
	Error       string
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// ErrInFlight means another holder is making the same call now. It is
// retryable (apperr.Unavailable): try again after the call's RetryAfter, when
// the call will have succeeded (and is reused), failed (and can be retried),
// or its holder will have lost its lease. Do returns it as an *InFlightError.
var ErrInFlight = apperr.New(apperr.Unavailable, "the same provider call is already running; try again shortly")

// InFlightError is the error of a Do that found the call claimed by a live
// holder. It wraps ErrInFlight.
type InFlightError struct {
	Provider, Operation string
	Attempts            int           // attempts so far, the running one included
	RetryAfter          time.Duration // until the holder's lease expires, unless it renews it
}

func (e *InFlightError) Error() string {
	return fmt.Sprintf("ledger: %s %s is already running (attempt %d; lease ends in %s): %v",
		e.Provider, e.Operation, e.Attempts, e.RetryAfter.Round(time.Millisecond), ErrInFlight)
}

// Unwrap returns ErrInFlight.
func (e *InFlightError) Unwrap() error { return ErrInFlight }

// ErrLeaseLost is the cause (context.Cause) of the cancellation of fn's
// context when Do can no longer hold the call: another holder took it over,
// or the lease could not be renewed for a whole Lease.
var ErrLeaseLost = errors.New("ledger: lease on the call lost")

// ErrNotRecorded is wrapped by the error of a Do whose fn succeeded but whose
// outcome could not be stored. Do then returns that outcome too: the call was
// paid, and the caller may still use it.
var ErrNotRecorded = errors.New("ledger: outcome not recorded")

// Hash returns the SHA-256 of the canonical JSON of c's UserID, Provider,
// Operation and Request: object keys sorted at every level, no insignificant space,
// numbers as written. So the hash does not depend on map order, on the key
// order of a json.RawMessage, or on whether Request is a struct or a map with
// the same JSON. It fails when Request cannot be encoded as JSON.
func Hash(c Call) ([]byte, error) {
	req, err := canonicalJSON(c.Request)
	if err != nil {
		return nil, fmt.Errorf("ledger: hash %s %s request: %w", c.Provider, c.Operation, err)
	}
	b, err := json.Marshal(struct {
		V         int             `json:"v"`
		User      uuid.UUID       `json:"user"`
		Provider  string          `json:"provider"`
		Operation string          `json:"operation"`
		Request   json.RawMessage `json:"request"`
	}{2, c.UserID, c.Provider, c.Operation, req})
	if err != nil {
		return nil, fmt.Errorf("ledger: hash %s %s: %w", c.Provider, c.Operation, err)
	}
	sum := sha256.Sum256(b)
	return sum[:], nil
}

// canonicalJSON encodes v, decodes it into plain maps, slices and json.Number
// and encodes it again: encoding/json sorts map keys and compacts.
func canonicalJSON(v any) (json.RawMessage, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var x any
	if err := dec.Decode(&x); err != nil {
		return nil, err
	}
	return json.Marshal(x)
}

// claim is a held lease on a call: its row, and the attempt that holds it.
type claim struct {
	id       uuid.UUID
	attempts int
}

// claimSQL inserts the call as pending, or takes over a failed call or a
// pending one whose lease (updated_at + $7 seconds) has expired. It returns
// no row when the call succeeded or is held by a live lease.
const claimSQL = `
INSERT INTO provider_calls AS p (id, request_hash, provider, operation, job_id, step, status, attempts)
VALUES ($1, $2, $3, $4, $5, $6, 'pending', 1)
ON CONFLICT (request_hash) DO UPDATE
SET status = 'pending', attempts = p.attempts + 1, error = NULL, updated_at = now(),
    job_id = COALESCE(p.job_id, EXCLUDED.job_id), step = COALESCE(p.step, EXCLUDED.step)
WHERE p.status = 'failed'
   OR (p.status = 'pending' AND p.updated_at <= now() - make_interval(secs => $7))
RETURNING id, attempts`

// peekSQL reads a call that could not be claimed, with the seconds left on
// its lease.
const peekSQL = `
SELECT status, attempts, result, result_key, usage,
       EXTRACT(EPOCH FROM (updated_at + make_interval(secs => $2) - now()))::float8
FROM provider_calls WHERE request_hash = $1`

// Do makes the call c through fn at most once with success.
//
// When a call with the same Hash already succeeded, Do returns its stored
// outcome with Reused set and does not call fn. Otherwise it claims the call
// (one upsert: a new row, or a failed one, or a pending one whose holder's
// lease expired, each counting one more attempt), runs fn, and records what
// fn returned: the outcome as succeeded, or the error as failed, so that a
// later Do tries again. While fn runs Do renews the lease; if it loses the
// lease, it cancels fn's context with the cause ErrLeaseLost.
//
// When another holder's lease is live, Do waits up to Options.Wait for that
// call to end and then returns an *InFlightError (errors.Is(err,
// ErrInFlight)). fn's errors are returned wrapped; fn's Result and Usage must
// be JSON. When fn succeeded but the outcome could not be stored, Do returns
// the outcome and an error wrapping ErrNotRecorded.
func (l *Ledger) Do(ctx context.Context, c Call, fn func(ctx context.Context) (Outcome, error)) (Outcome, error) {
	if c.Provider == "" || c.Operation == "" {
		return Outcome{}, errors.New("ledger: a call needs a Provider and an Operation")
	}
	hash, err := Hash(c)
	if err != nil {
		return Outcome{}, err
	}
	giveUp := time.Now().Add(l.opts.Wait)
	for {
		cl, out, err := l.claim(ctx, c, hash)
		switch {
		case err == nil && cl != nil:
			return l.run(ctx, c, *cl, fn)
		case err == nil:
			return out, nil
		}
		var busy *InFlightError
		left := time.Until(giveUp)
		if !errors.As(err, &busy) || left <= 0 {
			return Outcome{}, err
		}
		t := time.NewTimer(min(l.opts.Poll, left))
		select {
		case <-ctx.Done():
			t.Stop()
			return Outcome{}, fmt.Errorf("ledger: wait for %s %s: %w", c.Provider, c.Operation, context.Cause(ctx))
		case <-t.C:
		}
	}
}

// claim returns the claim when this caller now holds the call, the stored
// outcome when the call already succeeded, or an *InFlightError.
func (l *Ledger) claim(ctx context.Context, c Call, hash []byte) (*claim, Outcome, error) {
	var jobID, step any
	if c.JobID != uuid.Nil {
		jobID = c.JobID
	}
	if c.Step != "" {
		step = c.Step
	}
	lease := l.opts.Lease.Seconds()
	// The row can change between the two statements (a holder fails or its
	// lease runs out just then); a few rounds settle it.
	for range 3 {
		var cl claim
		err := l.db.QueryRow(ctx, claimSQL, uuid.New(), hash, c.Provider, c.Operation, jobID, step, lease).Scan(&cl.id, &cl.attempts)
		if err == nil {
			return &cl, Outcome{}, nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return nil, Outcome{}, fmt.Errorf("ledger: claim %s %s: %w", c.Provider, c.Operation, err)
		}
		var (
			status        Status
			attempts      int
			result, usage []byte
			resultKey     *string
			leaseLeft     float64
		)
		err = l.db.QueryRow(ctx, peekSQL, hash, lease).Scan(&status, &attempts, &result, &resultKey, &usage, &leaseLeft)
		if errors.Is(err, pgx.ErrNoRows) {
			continue
		}
		if err != nil {
			return nil, Outcome{}, fmt.Errorf("ledger: read %s %s: %w", c.Provider, c.Operation, err)
		}
		switch {
		case status == Succeeded && resultKey != nil && !l.blobExists(ctx, *resultKey):
			// The stored result is gone (its object was deleted): the call is
			// made again, once, as if it had failed.
			if _, err := l.db.Exec(ctx, `UPDATE provider_calls SET status = 'failed', error = 'its stored result is gone', updated_at = now()
				WHERE request_hash = $1 AND status = 'succeeded'`, hash); err != nil {
				return nil, Outcome{}, fmt.Errorf("ledger: reopen %s %s: %w", c.Provider, c.Operation, err)
			}
			continue
		case status == Succeeded:
			return nil, Outcome{Result: result, ResultKey: deref(resultKey), Usage: usage, Reused: true}, nil
		case status == Pending && leaseLeft > 0:
			return nil, Outcome{}, &InFlightError{Provider: c.Provider, Operation: c.Operation, Attempts: attempts,
				RetryAfter: time.Duration(leaseLeft * float64(time.Second))}
		}
	}
	return nil, Outcome{}, &InFlightError{Provider: c.Provider, Operation: c.Operation}
}

// run calls fn under the claim cl and records its outcome.
func (l *Ledger) run(ctx context.Context, c Call, cl claim, fn func(ctx context.Context) (Outcome, error)) (Outcome, error) {
	fctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stop := l.renew(fctx, cancel, cl)
	returned := false
	defer func() {
		if !returned { // fn panicked: free the call for the next attempt
			stop()
			_ = l.fail(ctx, cl, "panic in the provider call")
		}
	}()
	out, err := fn(fctx)
	returned = true
	stop()

	if err == nil {
		err = checkJSON(out)
	}
	if err != nil {
		if cause := context.Cause(fctx); errors.Is(cause, ErrLeaseLost) && !errors.Is(err, ErrLeaseLost) {
			err = fmt.Errorf("%w (%w)", err, cause)
		}
		err = fmt.Errorf("%s %s: %w", c.Provider, c.Operation, err)
		if ferr := l.fail(ctx, cl, err.Error()); ferr != nil {
			return Outcome{}, errors.Join(err, ferr)
		}
		return Outcome{}, err
	}

	out.Reused = false
	if len(out.Body) > 0 && (out.ResultKey == "" || l.opts.Blobs == nil) {
		err := fmt.Errorf("%s %s: a binary result needs a ResultKey and Options.Blobs", c.Provider, c.Operation)
		return Outcome{}, errors.Join(err, l.fail(ctx, cl, err.Error()))
	}
	// The call was paid: record that first, before anything else can fail,
	// and keep trying while the database refuses. A success is stored even if
	// the lease was lost meanwhile (its outcome is as good as anyone's), but
	// never over another holder's success.
	if err := l.record(ctx, c, cl, out); err != nil {
		return out, err
	}
	if len(out.Body) > 0 {
		if err := l.storeBody(ctx, out); err != nil {
			// Recorded, but its result is not stored: the next Do finds the
			// object missing and pays again, once.
			return out, fmt.Errorf("%s %s: store the paid result: %w", c.Provider, c.Operation, err)
		}
	}
	return out, nil
}

// record marks the claim's call succeeded with out, retrying for
// Options.RecordFor while the database refuses.
func (l *Ledger) record(ctx context.Context, c Call, cl claim, out Outcome) error {
	give := time.Now().Add(l.opts.RecordFor)
	wait := 250 * time.Millisecond
	for {
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		_, err := l.db.Exec(wctx, `UPDATE provider_calls
			SET status = 'succeeded', result = $2::jsonb, result_key = $3, usage = $4::jsonb, error = NULL, updated_at = now()
			WHERE id = $1 AND status <> 'succeeded'`,
			cl.id, jsonParam(out.Result), nullIfEmpty(out.ResultKey), usageParam(out.Usage))
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().Add(wait).After(give) {
			return fmt.Errorf("%w: %s %s: %w", ErrNotRecorded, c.Provider, c.Operation, err)
		}
		time.Sleep(wait)
		wait = min(2*wait, 4*time.Second)
	}
}

// storeBody puts a paid binary result at its key, trying a few times.
func (l *Ledger) storeBody(ctx context.Context, out Outcome) error {
	var err error
	for try := range 3 {
		if try > 0 {
			time.Sleep(time.Duration(try) * 500 * time.Millisecond)
		}
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		err = l.opts.Blobs.Put(wctx, out.ResultKey, out.ContentType, bytes.NewReader(out.Body), int64(len(out.Body)))
		cancel()
		if err == nil {
			return nil
		}
	}
	return err
}

// blobExists reports whether a stored binary result is still there; when it
// cannot tell (no Blobs, or the store fails) it says yes, and the caller finds
// out when it reads the object.
func (l *Ledger) blobExists(ctx context.Context, key string) bool {
	if l.opts.Blobs == nil {
		return true
	}
	_, err := l.opts.Blobs.Head(ctx, key)
	return apperr.CodeOf(err) != apperr.NotFound
}

// fail records the claim's attempt as failed, unless another holder has
// taken the call over meanwhile.
func (l *Ledger) fail(ctx context.Context, cl claim, msg string) error {
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	_, err := l.db.Exec(wctx, `UPDATE provider_calls SET status = 'failed', error = $3, updated_at = now()
		WHERE id = $1 AND status = 'pending' AND attempts = $2`, cl.id, cl.attempts, truncate(msg, 2000))
	if err != nil {
		return fmt.Errorf("ledger: record failure: %w", err)
	}
	return nil
}

// renew keeps the claim's lease live until stop is called, and cancels ctx
// with ErrLeaseLost when another holder took the call over or the lease
// could not be renewed for a whole Lease.
func (l *Ledger) renew(ctx context.Context, cancel context.CancelCauseFunc, cl claim) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(l.opts.Lease / 3)
		defer t.Stop()
		renewed := time.Now()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
			}
			tag, err := l.db.Exec(ctx, `UPDATE provider_calls SET updated_at = now()
				WHERE id = $1 AND status = 'pending' AND attempts = $2`, cl.id, cl.attempts)
			switch {
			case err == nil && tag.RowsAffected() == 1:
				renewed = time.Now()
			case err == nil:
				cancel(fmt.Errorf("%w: another holder took the call over", ErrLeaseLost))
				return
			case time.Since(renewed) >= l.opts.Lease:
				cancel(fmt.Errorf("%w: cannot renew it: %w", ErrLeaseLost, err))
				return
			}
		}
	})
	var once sync.Once
	return func() {
		once.Do(func() {
			close(done)
			wg.Wait()
		})
	}
}

// Calls returns the recorded calls of a job, oldest first.
func (l *Ledger) Calls(ctx context.Context, jobID uuid.UUID) ([]Record, error) {
	rows, err := l.db.Query(ctx, `SELECT id, request_hash, provider, operation, job_id, step, status, attempts,
		result, result_key, usage, error, created_at, updated_at
		FROM provider_calls WHERE job_id = $1 ORDER BY created_at, id`, jobID)
	if err != nil {
		return nil, fmt.Errorf("ledger: list calls of job %s: %w", jobID, err)
	}
	defer rows.Close()
	var recs []Record
	for rows.Next() {
		var (
			r                    Record
			job                  *uuid.UUID
			step, resultKey, msg *string
			result, usage        []byte
		)
		if err := rows.Scan(&r.ID, &r.RequestHash, &r.Provider, &r.Operation, &job, &step, &r.Status, &r.Attempts,
			&result, &resultKey, &usage, &msg, &r.CreatedAt, &r.UpdatedAt); err != nil {
			return nil, fmt.Errorf("ledger: read call: %w", err)
		}
		if job != nil {
			r.JobID = *job
		}
		r.Step, r.ResultKey, r.Error = deref(step), deref(resultKey), deref(msg)
		r.Result, r.Usage = result, usage
		recs = append(recs, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("ledger: list calls of job %s: %w", jobID, err)
	}
	return recs, nil
}

// checkJSON refuses an outcome whose Result or Usage is not JSON: it could
// not be stored.
func checkJSON(out Outcome) error {
	if out.Result != nil && !json.Valid(out.Result) {
		return errors.New("ledger: the call's Result is not valid JSON")
	}
	if out.Usage != nil && !json.Valid(out.Usage) {
		return errors.New("ledger: the call's Usage is not valid JSON")
	}
	return nil
}

// JSON goes to Postgres as text cast to jsonb, which every exec mode
// (including the simple protocol) sends unchanged.
func jsonParam(b json.RawMessage) any {
	if b == nil {
		return nil
	}
	return string(b)
}

func usageParam(b json.RawMessage) string {
	if b == nil {
		return "{}"
	}
	return string(b)
}

func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
