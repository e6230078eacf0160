package job

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/redub/redub/shared/queue"
)

// This file is every move of a step's state after a job is created: claim,
// heartbeat, progress, success, failure, retry, cancellation, sending, and
// the sweeper's and the dead-letter tools' transitions. docs/pipeline.md has
// the table of them.
//
// Lock order: a transaction that changes a step locks the job's row first,
// then the step's (lock below). Every transaction here takes them through
// lock, so two of them never wait on each other in a cycle.

// Dispatch is one message to send for a step. Attempt is the step's dispatch
// number, which the message carries, so that a message of an older send can
// be told from the current one.
type Dispatch struct {
	JobID   uuid.UUID
	Step    string
	Attempt int
	TraceID string
	Merge   bool // the merge of the step's parts (parts.go)
}

// Message is the queue message for d.
func (d Dispatch) Message() queue.Message {
	return queue.Message{JobID: d.JobID, Step: d.Step, Attempt: d.Attempt, TraceID: d.TraceID, Merge: d.Merge}
}

// locked is a job and one of its steps, as lock read them.
type locked struct {
	jobFound, stepFound bool
	job                 Status
	canceled            bool
	trace               string
	step                Status
	attempts, dispatch  int
	position            int
	updated             time.Time
	enqueued            *time.Time
}

// lock takes the row locks of a job and one of its steps, in that order.
func lock(ctx context.Context, tx pgx.Tx, jobID uuid.UUID, step string) (locked, error) {
	var l locked
	err := tx.QueryRow(ctx, `SELECT status, cancel_requested, trace_id FROM jobs WHERE id = $1 FOR UPDATE`, jobID).
		Scan(&l.job, &l.canceled, &l.trace)
	if errors.Is(err, pgx.ErrNoRows) {
		return l, nil
	}
	if err != nil {
		return l, fmt.Errorf("lock job: %w", err)
	}
	l.jobFound = true
	err = tx.QueryRow(ctx, `SELECT status, attempts, dispatch, position, updated_at, enqueued_at FROM job_steps
		WHERE job_id = $1 AND step = $2 FOR UPDATE`, jobID, step).
		Scan(&l.step, &l.attempts, &l.dispatch, &l.position, &l.updated, &l.enqueued)
	if errors.Is(err, pgx.ErrNoRows) {
		return l, nil
	}
	if err != nil {
		return l, fmt.Errorf("lock step: %w", err)
	}
	l.stepFound = true
	return l, nil
}

// active reports whether the job is still going (not canceled, not ended).
func (l locked) active() bool {
	return l.jobFound && !l.canceled && !l.job.Terminal()
}

// ClaimOutcome is what a message's consumer does after Claim.
type ClaimOutcome int

// The outcomes of a claim.
const (
	// Run: the caller holds the step (its lease) and does the work.
	Run ClaimOutcome = iota
	// Drop: nothing to do; the message is done (a repeat, an ended or
	// canceled job, a job that no longer exists).
	Drop
	// Busy: the step is held by a live lease elsewhere, or its predecessor
	// has not finished; the message comes back after RetryIn.
	Busy
)

// ClaimOptions are the limits of a claim.
type ClaimOptions struct {
	Lease       time.Duration // how long a running step's lease lasts without a heartbeat
	MaxAttempts int           // attempts of a step before the job fails
	// StepsPerUser parks a step over its user's share (fair.go); 0: no share.
	StepsPerUser int
}

// Claim is the result of Store.Claim.
type Claim struct {
	Outcome ClaimOutcome
	Job     Job           // Run: the job (without steps and outputs)
	Attempt int           // Run: this attempt's number (1 for the first)
	RetryIn time.Duration // Busy: when to look again
	Note    string        // Drop and Busy: why, for the log
	// Send is a successor step that was queued but never sent (a repeated
	// message of a step that succeeded finds it); the caller sends it.
	Send *Dispatch
	// Failed is the reason when the claim failed the job (attempts used up).
	Failed string
}

// Claim takes a step of a job for one attempt: the step becomes running with
// a lease (attempts + 1), and the job running. A step that is running under
// a live lease is Busy until the lease ends; a message for a step that
// already ended, or for a canceled or missing job, is dropped; a step whose
// attempts are used up fails its job. Errors are database errors: the
// message should come back.
func (s *Store) Claim(ctx context.Context, jobID uuid.UUID, step string, o ClaimOptions) (Claim, error) {
	var c Claim
	err := s.db.WithTx(ctx, func(tx pgx.Tx) error {
		c = Claim{}
		l, err := lock(ctx, tx, jobID, step)
		if err != nil {
			return err
		}
		switch {
		case !l.jobFound:
			c.Outcome, c.Note = Drop, "the job no longer exists"
			return nil
		case !l.stepFound:
			c.Outcome, c.Note = Drop, "the job has no such step"
			return nil
		case l.canceled || l.job == Canceled:
			c.Outcome, c.Note = Drop, "the job was canceled"
			return stopStep(ctx, tx, jobID, step)
		case l.job.Terminal():
			c.Outcome, c.Note = Drop, "the job already "+string(l.job)
			return nil
		case l.step == Succeeded:
			c.Outcome, c.Note = Drop, "a repeat of a step that succeeded"
			c.Send, err = unsentSuccessor(ctx, tx, jobID, l.trace)
			return err
		case l.step.Terminal():
			c.Outcome, c.Note = Drop, "the step already "+string(l.step)
			return nil
		case l.step == Pending:
			c.Outcome, c.Note, c.RetryIn = Busy, "its predecessor has not finished", o.Lease
			return nil
		case l.step == Running:
			if left := o.Lease - time.Since(l.updated); left > 0 {
				c.Outcome, c.Note, c.RetryIn = Busy, "running elsewhere under a live lease", left
				return nil
			}
		}
		if l.attempts >= o.MaxAttempts {
			c.Outcome = Drop
			c.Failed = fmt.Sprintf("%s did not finish after %d attempts", step, l.attempts)
			c.Note = c.Failed
			return failTx(ctx, tx, jobID, step, c.Failed)
		}
		if parked, err := parkOverShare(ctx, tx, jobID, step, l, o); err != nil || parked {
			c.Outcome, c.Note = Drop, "parked: its user already runs their share of "+step+" steps"
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE job_steps SET status = 'running', attempts = attempts + 1, error = NULL,
			started_at = coalesce(started_at, now()), updated_at = now() WHERE job_id = $1 AND step = $2`, jobID, step); err != nil {
			return fmt.Errorf("mark step running: %w", err)
		}
		if _, err := tx.Exec(ctx, `UPDATE jobs SET status = 'running', started_at = coalesce(started_at, now()), updated_at = now()
			WHERE id = $1`, jobID); err != nil {
			return fmt.Errorf("mark job running: %w", err)
		}
		c.Job, err = scanJob(tx.QueryRow(ctx, `SELECT `+jobColumns+` FROM jobs j WHERE j.id = $1`, jobID))
		if err != nil {
			return fmt.Errorf("read job: %w", err)
		}
		c.Outcome, c.Attempt = Run, l.attempts+1
		return nil
	})
	if err != nil {
		return Claim{}, fmt.Errorf("claim %s of job %s: %w", step, jobID, err)
	}
	return c, nil
}

// unsentSuccessor is the queued step of the job that was never sent.
func unsentSuccessor(ctx context.Context, tx pgx.Tx, jobID uuid.UUID, trace string) (*Dispatch, error) {
	d := Dispatch{JobID: jobID, TraceID: trace}
	err := tx.QueryRow(ctx, `SELECT step, dispatch FROM job_steps WHERE job_id = $1 AND status = 'queued' AND enqueued_at IS NULL
		ORDER BY position LIMIT 1`, jobID).Scan(&d.Step, &d.Attempt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("find unsent step: %w", err)
	}
	return &d, nil
}

// Heartbeat renews the lease of the step's attempt. It reports false when
// the attempt no longer holds the step (another claim took it over after
// the lease ran out, or the step ended).
func (s *Store) Heartbeat(ctx context.Context, jobID uuid.UUID, step string, attempt int) (bool, error) {
	tag, err := s.db.Exec(ctx, `UPDATE job_steps SET updated_at = now()
		WHERE job_id = $1 AND step = $2 AND status = 'running' AND attempts = $3`, jobID, step, attempt)
	if err != nil {
		return false, fmt.Errorf("renew lease of %s: %w", step, err)
	}
	return tag.RowsAffected() == 1, nil
}

// Progress records a running attempt's percent (0-100) and stage; it also
// renews the lease.
func (s *Store) Progress(ctx context.Context, jobID uuid.UUID, step string, attempt int, percent float64, stage string) error {
	percent = max(0, min(100, percent))
	if _, err := s.db.Exec(ctx, `UPDATE job_steps SET progress_percent = $4, progress_stage = $5, updated_at = now()
		WHERE job_id = $1 AND step = $2 AND status = 'running' AND attempts = $3`, jobID, step, attempt, percent, stage); err != nil {
		return fmt.Errorf("record progress of %s: %w", step, err)
	}
	return nil
}

// CancelRequested reports whether the job was canceled or no longer exists.
func (s *Store) CancelRequested(ctx context.Context, jobID uuid.UUID) (bool, error) {
	var canceled bool
	err := s.db.QueryRow(ctx, `SELECT cancel_requested OR status = 'canceled' FROM jobs WHERE id = $1`, jobID).Scan(&canceled)
	if errors.Is(err, pgx.ErrNoRows) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("check cancellation: %w", err)
	}
	return canceled, nil
}

// NewOutput is a file a step stored, to record with its success.
type NewOutput struct {
	Kind        string // unique per job: video, poster, speech_wav, transcript, srt, vtt, voiceover...
	Key         string
	Filename    string
	ContentType string
	SizeBytes   int64
}

// Finish is what Succeed did.
type Finish struct {
	// Next is the step queued after this one, to send; nil at the end.
	Next *Dispatch
	// Recorded is false when the attempt no longer held the step (its job
	// was canceled or deleted, or another attempt took it over): nothing was
	// recorded and the caller's files are not the job's.
	Recorded bool
	// JobGone is true when the job no longer exists.
	JobGone bool
}

// Succeed records the attempt's outputs and usage, marks the step succeeded
// and queues the next step, or ends the job when none is left, in one
// transaction. The next step is sent by the caller after the commit.
func (s *Store) Succeed(ctx context.Context, jobID uuid.UUID, step string, attempt int, outs []NewOutput, usage map[string]any) (Finish, error) {
	usageJSON, err := json.Marshal(usage)
	if err != nil {
		return Finish{}, fmt.Errorf("encode usage of %s: %w", step, err)
	}
	var f Finish
	err = s.db.WithTx(ctx, func(tx pgx.Tx) error {
		f = Finish{}
		l, err := lock(ctx, tx, jobID, step)
		if err != nil {
			return err
		}
		if !l.jobFound {
			f.JobGone = true
			return nil
		}
		if !l.stepFound || l.step != Running || l.attempts != attempt {
			return nil
		}
		if !l.active() {
			return stopStep(ctx, tx, jobID, step)
		}
		for _, o := range outs {
			if _, err := tx.Exec(ctx, `
				INSERT INTO outputs (id, job_id, step, kind, object_key, filename, content_type, size_bytes)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
				ON CONFLICT (job_id, kind) DO UPDATE SET object_key = EXCLUDED.object_key, filename = EXCLUDED.filename,
					content_type = EXCLUDED.content_type, size_bytes = EXCLUDED.size_bytes, step = EXCLUDED.step`,
				uuid.New(), jobID, step, o.Kind, o.Key, o.Filename, o.ContentType, o.SizeBytes); err != nil {
				return fmt.Errorf("record output %s: %w", o.Kind, err)
			}
		}
		if _, err := tx.Exec(ctx, `UPDATE job_steps SET status = 'succeeded', progress_percent = 100, progress_stage = 'done',
			error = NULL, usage = $3, finished_at = now(), updated_at = now() WHERE job_id = $1 AND step = $2`,
			jobID, step, string(usageJSON)); err != nil {
			return fmt.Errorf("mark step succeeded: %w", err)
		}
		f.Recorded = true
		next := Dispatch{JobID: jobID, TraceID: l.trace}
		err = tx.QueryRow(ctx, `UPDATE job_steps SET status = 'queued', updated_at = now()
			WHERE job_id = $1 AND position = $2 + 1 AND status = 'pending'
			RETURNING step, dispatch`, jobID, l.position).Scan(&next.Step, &next.Attempt)
		if err == nil {
			f.Next = &next
			if _, err := tx.Exec(ctx, `UPDATE jobs SET updated_at = now() WHERE id = $1`, jobID); err != nil {
				return fmt.Errorf("touch job: %w", err)
			}
			return recordProgressTx(ctx, tx, jobID, step)
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("queue next step: %w", err)
		}
		// No step after this one: the job succeeded, unless a step is still open.
		if _, err := tx.Exec(ctx, `UPDATE jobs SET status = 'succeeded', finished_at = now(), updated_at = now()
			WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM job_steps WHERE job_id = $1 AND status NOT IN ('succeeded', 'skipped'))`,
			jobID); err != nil {
			return fmt.Errorf("mark job succeeded: %w", err)
		}
		return recordEndTx(ctx, tx, jobID)
	})
	if err != nil {
		return Finish{}, fmt.Errorf("record success of %s: %w", step, err)
	}
	return f, nil
}

// Retry hands a running attempt's step back to the queue after a transient
// error: it becomes queued again (its message comes back), with the error
// kept for GET /jobs/{id}.
func (s *Store) Retry(ctx context.Context, jobID uuid.UUID, step string, attempt int, reason string) error {
	if _, err := s.db.Exec(ctx, `UPDATE job_steps SET status = 'queued', error = $4, updated_at = now()
		WHERE job_id = $1 AND step = $2 AND status = 'running' AND attempts = $3`,
		jobID, step, attempt, truncate(reason, 2000)); err != nil {
		return fmt.Errorf("requeue %s: %w", step, err)
	}
	return nil
}

// Fail fails the step and its job with reason (a sentence a person can
// read) and cancels the steps that had not started. It reports whether it
// changed anything: a job that already ended or no longer exists is left.
func (s *Store) Fail(ctx context.Context, jobID uuid.UUID, step, reason string) (bool, error) {
	changed := false
	err := s.db.WithTx(ctx, func(tx pgx.Tx) error {
		l, err := lock(ctx, tx, jobID, step)
		if err != nil || !l.active() {
			return err
		}
		changed = true
		return failTx(ctx, tx, jobID, step, reason)
	})
	if err != nil {
		return false, fmt.Errorf("fail %s of job %s: %w", step, jobID, err)
	}
	return changed, nil
}

// failTx is the failure rule, inside a transaction that holds the locks:
// the step fails, the steps that had not started are canceled, the job fails.
func failTx(ctx context.Context, tx pgx.Tx, jobID uuid.UUID, step, reason string) error {
	reason = truncate(reason, 4000)
	if _, err := tx.Exec(ctx, `UPDATE job_steps SET status = 'failed', error = $3, finished_at = now(), updated_at = now()
		WHERE job_id = $1 AND step = $2`, jobID, step, reason); err != nil {
		return fmt.Errorf("mark step failed: %w", err)
	}
	if _, err := tx.Exec(ctx, `UPDATE job_steps SET status = 'canceled', finished_at = now(), updated_at = now()
		WHERE job_id = $1 AND status IN ('pending', 'queued')`, jobID); err != nil {
		return fmt.Errorf("cancel later steps: %w", err)
	}
	if _, err := tx.Exec(ctx, `UPDATE jobs SET status = 'failed', error = $2, finished_at = now(), updated_at = now()
		WHERE id = $1 AND status NOT IN ('succeeded', 'failed', 'canceled')`, jobID, reason); err != nil {
		return fmt.Errorf("mark job failed: %w", err)
	}
	return recordEndTx(ctx, tx, jobID)
}

// Stop marks a step of a canceled job canceled (a step that stopped at a
// cancellation check). It reports whether the job no longer exists.
func (s *Store) Stop(ctx context.Context, jobID uuid.UUID, step string) (gone bool, err error) {
	err = s.db.WithTx(ctx, func(tx pgx.Tx) error {
		l, err := lock(ctx, tx, jobID, step)
		if err != nil {
			return err
		}
		gone = !l.jobFound
		return stopStep(ctx, tx, jobID, step)
	})
	if err != nil {
		return false, fmt.Errorf("stop %s of job %s: %w", step, jobID, err)
	}
	return gone, nil
}

// stopStep cancels a step of a canceled job, with its open parts when it
// was split (a step that was not has no job_parts rows to touch).
func stopStep(ctx context.Context, tx pgx.Tx, jobID uuid.UUID, step string) error {
	if _, err := tx.Exec(ctx, `UPDATE job_parts SET status = 'canceled', finished_at = now(), updated_at = now()
		WHERE job_id = $1 AND step = $2 AND status IN ('queued', 'running')`, jobID, step); err != nil {
		return fmt.Errorf("cancel parts of %s: %w", step, err)
	}
	if _, err := tx.Exec(ctx, `UPDATE job_steps SET status = 'canceled', finished_at = now(), updated_at = now()
		WHERE job_id = $1 AND step = $2 AND status NOT IN ('succeeded', 'failed', 'canceled', 'skipped')`, jobID, step); err != nil {
		return fmt.Errorf("stop step %s: %w", step, err)
	}
	return nil
}

// Enqueuer sends step messages.
type Enqueuer interface {
	Send(ctx context.Context, m queue.Message) error
}

// Send sends d and records that it was sent. When sending fails the step
// stays queued and unsent, and the sweeper sends it later (Unsent).
func (s *Store) Send(ctx context.Context, q Enqueuer, d Dispatch) error {
	if err := q.Send(ctx, d.Message()); err != nil {
		return err
	}
	if _, err := s.db.Exec(ctx, `UPDATE job_steps SET enqueued_at = now(), updated_at = now()
		WHERE job_id = $1 AND step = $2 AND dispatch = $3 AND status = 'queued'`, d.JobID, d.Step, d.Attempt); err != nil {
		return fmt.Errorf("mark %s sent: %w", d.Step, err)
	}
	return nil
}

// EnqueueFirst sends the job's first queued step. It is called after the
// creating transaction commits; if sending fails the step stays queued and
// unsent and the sweeper sends it later.
func (s *Store) EnqueueFirst(ctx context.Context, q Enqueuer, j Job) error {
	for _, st := range j.Steps {
		if st.Status == Queued {
			return s.Send(ctx, q, Dispatch{JobID: j.ID, Step: st.Name, Attempt: 1, TraceID: j.TraceID})
		}
	}
	return nil
}

// Unsent lists steps that are queued but were never sent (the process that
// queued them died before sending, or the send failed), oldest first, once
// they are older than grace.
func (s *Store) Unsent(ctx context.Context, grace time.Duration, limit int) ([]Dispatch, error) {
	rows, err := s.db.Query(ctx, `
		SELECT st.job_id, st.step, st.dispatch, j.trace_id FROM job_steps st JOIN jobs j ON j.id = st.job_id
		WHERE st.status = 'queued' AND st.enqueued_at IS NULL AND st.updated_at < now() - make_interval(secs => $1)
		  AND j.status IN ('queued', 'running') AND NOT j.cancel_requested
		ORDER BY st.updated_at LIMIT $2`, grace.Seconds(), limit)
	if err != nil {
		return nil, fmt.Errorf("find unsent steps: %w", err)
	}
	return collectDispatches(rows)
}

// Expired hands every running step whose lease has run out (its worker died
// or lost the database) back to the queue as a new dispatch, and returns the
// dispatches to send. The dead worker's message, when it comes back, is then
// an older send of a step that is queued, running or done: a harmless repeat.
func (s *Store) Expired(ctx context.Context, lease time.Duration, limit int) ([]Dispatch, error) {
	rows, err := s.db.Query(ctx, `
		SELECT st.job_id, st.step FROM job_steps st JOIN jobs j ON j.id = st.job_id
		WHERE st.status = 'running' AND st.updated_at < now() - make_interval(secs => $1)
		  AND j.status IN ('queued', 'running') AND NOT j.cancel_requested
		  AND NOT EXISTS (SELECT 1 FROM job_parts p WHERE p.job_id = st.job_id AND p.step = st.step AND p.status <> 'succeeded')
		ORDER BY st.updated_at LIMIT $2`, lease.Seconds(), limit)
	if err != nil {
		return nil, fmt.Errorf("find expired leases: %w", err)
	}
	type cand struct {
		id   uuid.UUID
		step string
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (cand, error) {
		var c cand
		return c, r.Scan(&c.id, &c.step)
	})
	if err != nil {
		return nil, fmt.Errorf("find expired leases: %w", err)
	}
	var out []Dispatch
	for _, c := range list {
		err := s.db.WithTx(ctx, func(tx pgx.Tx) error {
			l, err := lock(ctx, tx, c.id, c.step)
			if err != nil || !l.active() || l.step != Running || time.Since(l.updated) < lease {
				return err // renewed or ended meanwhile
			}
			d := Dispatch{JobID: c.id, Step: c.step, TraceID: l.trace}
			if err := tx.QueryRow(ctx, `UPDATE job_steps SET status = 'queued', dispatch = dispatch + 1, enqueued_at = NULL,
				error = 'its worker stopped answering; started again', updated_at = now()
				WHERE job_id = $1 AND step = $2 RETURNING dispatch`, c.id, c.step).Scan(&d.Attempt); err != nil {
				return fmt.Errorf("requeue expired step: %w", err)
			}
			out = append(out, d)
			return nil
		})
		if err != nil {
			return out, fmt.Errorf("requeue %s of job %s: %w", c.step, c.id, err)
		}
	}
	return out, nil
}

func collectDispatches(rows pgx.Rows) ([]Dispatch, error) {
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Dispatch, error) {
		var d Dispatch
		return d, r.Scan(&d.JobID, &d.Step, &d.Attempt, &d.TraceID)
	})
	if err != nil {
		return nil, fmt.Errorf("read steps: %w", err)
	}
	return list, nil
}

// DeadVerdict is what became of a dead-lettered message.
type DeadVerdict int

// The verdicts on a dead-lettered message.
const (
	// DeadFailed: the message was the step's current one and the step had
	// not ended: its job failed now. The message stays for `redub dlq`.
	DeadFailed DeadVerdict = iota
	// DeadKept: the job already failed at this send of the step, was
	// canceled, or the step is running under a live lease; the message stays.
	DeadKept
	// DeadStale: a message of an older send, of a step that ended otherwise,
	// or of a job that ended or no longer exists. It can be removed.
	DeadStale
)

// DeadLetter judges a message of a step that reached its dead-letter queue.
// Only the step's current send (attempt equal to the step's dispatch number)
// of a step that has not ended fails the job; anything older or settled is
// stale and never fails a job.
func (s *Store) DeadLetter(ctx context.Context, d Dispatch, lease time.Duration, reason string) (DeadVerdict, error) {
	v := DeadStale
	err := s.db.WithTx(ctx, func(tx pgx.Tx) error {
		v = DeadStale
		l, err := lock(ctx, tx, d.JobID, d.Step)
		if err != nil || !l.stepFound || l.job == Succeeded || d.Attempt < l.dispatch {
			return err
		}
		switch {
		case l.canceled || l.job == Canceled:
			v = DeadKept // harmless; left for `redub dlq` like any message of a canceled job
		case l.step == Failed:
			v = DeadKept
		case l.step.Terminal():
		case l.step == Running && time.Since(l.updated) < lease:
			v = DeadKept
		case l.active():
			v = DeadFailed
			return failTx(ctx, tx, d.JobID, d.Step, reason)
		}
		return nil
	})
	if err != nil {
		return DeadKept, fmt.Errorf("judge dead letter of %s, job %s: %w", d.Step, d.JobID, err)
	}
	return v, nil
}

// Reset makes a job that failed at step runnable again (`redub dlq redrive
// --reset-jobs`): the step is queued with its attempts, error, progress and
// times cleared and marked sent (the redriven message is its send), the
// later steps the failure canceled are pending again, and the job is
// running, in one transaction. It does so only when the job failed at that
// step; otherwise it changes nothing and note says why.
func (s *Store) Reset(ctx context.Context, jobID uuid.UUID, step string) (done bool, note string, err error) {
	err = s.db.WithTx(ctx, func(tx pgx.Tx) error {
		done = false
		l, err := lock(ctx, tx, jobID, step)
		switch {
		case err != nil:
			return err
		case !l.jobFound:
			note = "job no longer exists: the step will drop the message"
			return nil
		case !l.stepFound:
			note = fmt.Sprintf("job has no step %q: the step will drop the message", step)
			return nil
		case l.canceled || l.job == Canceled:
			note = "job was canceled: left canceled"
			return nil
		case l.job == Succeeded:
			note = "job succeeded: nothing to redo (the step drops the message as a repeat)"
			return nil
		case !l.job.Terminal():
			note = fmt.Sprintf("job is %s: nothing to reset (step %s is %s)", l.job, step, l.step)
			return nil
		case l.step != Failed:
			note = fmt.Sprintf("job failed, but not at %s (which is %s): left failed", step, l.step)
			return nil
		}
		if _, err := tx.Exec(ctx, `UPDATE job_steps SET status = 'queued', attempts = 0, error = NULL, progress_percent = 0,
			progress_stage = '', started_at = NULL, finished_at = NULL, enqueued_at = now(), updated_at = now()
			WHERE job_id = $1 AND step = $2`, jobID, step); err != nil {
			return fmt.Errorf("requeue step: %w", err)
		}
		if _, err := tx.Exec(ctx, `UPDATE job_steps SET status = 'pending', finished_at = NULL, updated_at = now()
			WHERE job_id = $1 AND position > $2 AND status = 'canceled'`, jobID, l.position); err != nil {
			return fmt.Errorf("restore later steps: %w", err)
		}
		if _, err := tx.Exec(ctx, `UPDATE jobs SET status = 'running', error = NULL, finished_at = NULL, updated_at = now()
			WHERE id = $1`, jobID); err != nil {
			return fmt.Errorf("restart job: %w", err)
		}
		done = true
		note = fmt.Sprintf("job set back to running; %s queued with its attempts reset", step)
		return nil
	})
	if err != nil {
		return false, "", fmt.Errorf("reset job %s: %w", jobID, err)
	}
	return done, note, nil
}

// FirstUnsent is the first step of the job an upload started (idempotency
// key "upload:<asset>") when that step is queued but was never sent; nil
// otherwise (no such job, or its first step went out).
func (s *Store) FirstUnsent(ctx context.Context, userID, assetID uuid.UUID) (*Dispatch, error) {
	d := Dispatch{}
	err := s.db.QueryRow(ctx, `SELECT j.id, st.step, st.dispatch, j.trace_id FROM jobs j JOIN job_steps st ON st.job_id = j.id
		WHERE j.user_id = $1 AND j.idempotency_key = $2 AND st.position = 1 AND st.status = 'queued' AND st.enqueued_at IS NULL`,
		userID, UploadKey(assetID)).Scan(&d.JobID, &d.Step, &d.Attempt, &d.TraceID)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("find the upload's first step: %w", err)
	}
	return &d, nil
}

// UploadKey is the idempotency key of the job an upload starts.
func UploadKey(assetID uuid.UUID) string { return "upload:" + assetID.String() }

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
