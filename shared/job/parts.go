package job

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/redub/redub/shared/queue"
)

// This file is the state of a step's parts (segment fan-out, DESIGN.md
// section 12): a step whose work grows with the media's length splits it
// into parts, each its own message and invocation with its own lease,
// attempts and dispatch number. The step stays running (held by its parts)
// until the last part to finish sends the merge.
//
// Lock order: as in state.go, the job's row, then the step's (lock), then
// the part's. Every part transition takes the step's row lock, so two parts
// finishing at once are serialized there and exactly one of them sees that
// all parts are done.

// Range is the span of the media a part works on.
type Range struct {
	Start, End time.Duration
}

// minTail is the shortest last part Ranges makes: a shorter rest of the
// media goes to the part before it.
const minTail = 2 * time.Second

// Ranges cuts media of length d into parts of length part, the last one
// taking the rest (a rest under 2 s joins the part before). Media no longer
// than one part, or a part length of 0, gives nil: the step runs whole.
func Ranges(d, part time.Duration) []Range {
	if part <= 0 || d <= part {
		return nil
	}
	var out []Range
	for start := time.Duration(0); start < d; start += part {
		out = append(out, Range{Start: start, End: min(start+part, d)})
	}
	if n := len(out); n > 1 && out[n-1].End-out[n-1].Start < minTail {
		out[n-2].End = out[n-1].End
		out = out[:n-1]
	}
	return out
}

// PartDispatch is one part message to send.
type PartDispatch struct {
	JobID   uuid.UUID
	Step    string
	Part    int // 1 for the first
	Attempt int // the part's dispatch number
	TraceID string
}

// Message is the queue message for d.
func (d PartDispatch) Message() queue.Message {
	return queue.Message{JobID: d.JobID, Step: d.Step, Part: d.Part, Attempt: d.Attempt, TraceID: d.TraceID}
}

// Split records the parts of a step that attempt holds (one row per range,
// part n is ranges[n-1]) and returns the parts to send: every part not yet
// sent. A repeat (a second attempt after the first split) keeps the parts
// already recorded, whatever ranges it is given, so part numbers stay
// stable. Nothing is returned when the attempt no longer holds the step or
// the job is not active.
func (s *Store) Split(ctx context.Context, jobID uuid.UUID, step string, attempt int, ranges []Range) ([]PartDispatch, error) {
	if len(ranges) == 0 {
		return nil, fmt.Errorf("split %s of job %s: no ranges", step, jobID)
	}
	var out []PartDispatch
	err := s.db.WithTx(ctx, func(tx pgx.Tx) error {
		out = nil
		l, err := lock(ctx, tx, jobID, step)
		if err != nil || !l.active() || !l.stepFound || l.step != Running || l.attempts != attempt {
			return err
		}
		for i, r := range ranges {
			if _, err := tx.Exec(ctx, `INSERT INTO job_parts (job_id, step, part, start_ms, end_ms) VALUES ($1, $2, $3, $4, $5)
				ON CONFLICT (job_id, step, part) DO NOTHING`, jobID, step, i+1, r.Start.Milliseconds(), r.End.Milliseconds()); err != nil {
				return fmt.Errorf("record part %d: %w", i+1, err)
			}
		}
		if _, err := tx.Exec(ctx, `UPDATE job_steps SET progress_stage = 'parts', updated_at = now() WHERE job_id = $1 AND step = $2`,
			jobID, step); err != nil {
			return fmt.Errorf("mark step split: %w", err)
		}
		rows, err := tx.Query(ctx, `SELECT part, dispatch FROM job_parts
			WHERE job_id = $1 AND step = $2 AND status = 'queued' AND enqueued_at IS NULL ORDER BY part`, jobID, step)
		if err != nil {
			return fmt.Errorf("list parts to send: %w", err)
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (PartDispatch, error) {
			d := PartDispatch{JobID: jobID, Step: step, TraceID: l.trace}
			return d, r.Scan(&d.Part, &d.Attempt)
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("split %s of job %s: %w", step, jobID, err)
	}
	return out, nil
}

// SendPart sends d and records that it was sent. When sending fails the
// part stays queued and unsent; UnsentParts finds it.
func (s *Store) SendPart(ctx context.Context, q Enqueuer, d PartDispatch) error {
	if err := q.Send(ctx, d.Message()); err != nil {
		return err
	}
	if _, err := s.db.Exec(ctx, `UPDATE job_parts SET enqueued_at = now(), updated_at = now()
		WHERE job_id = $1 AND step = $2 AND part = $3 AND dispatch = $4 AND status = 'queued'`,
		d.JobID, d.Step, d.Part, d.Attempt); err != nil {
		return fmt.Errorf("mark part %d of %s sent: %w", d.Part, d.Step, err)
	}
	return nil
}

// PartClaim is the result of ClaimPart.
type PartClaim struct {
	Outcome ClaimOutcome
	Job     Job           // Run: the job (without steps and outputs)
	Range   Range         // Run: the part's span of the media
	Total   int           // Run: how many parts the step has
	Attempt int           // Run: this attempt's number (1 for the first)
	RetryIn time.Duration // Busy: when to look again
	Note    string        // Drop and Busy: why, for the log
	Failed  string        // the reason, when the claim failed the job (attempts used up)
}

// ClaimPart takes one part of a step for one attempt, with the rules of
// Claim applied to the part: a part under a live lease is Busy; a part that
// ended, or a part of a canceled, ended or missing job, is dropped (a
// canceled job's open parts are canceled with it); a part whose attempts
// are used up fails the job.
func (s *Store) ClaimPart(ctx context.Context, jobID uuid.UUID, step string, part int, o ClaimOptions) (PartClaim, error) {
	var c PartClaim
	err := s.db.WithTx(ctx, func(tx pgx.Tx) error {
		c = PartClaim{}
		l, err := lock(ctx, tx, jobID, step)
		if err != nil {
			return err
		}
		var status Status
		var attempts int
		var updated time.Time
		var startMS, endMS int64
		err = tx.QueryRow(ctx, `SELECT status, attempts, updated_at, start_ms, end_ms FROM job_parts
			WHERE job_id = $1 AND step = $2 AND part = $3 FOR UPDATE`, jobID, step, part).
			Scan(&status, &attempts, &updated, &startMS, &endMS)
		partFound := err == nil
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("lock part: %w", err)
		}
		switch {
		case !l.jobFound:
			c.Outcome, c.Note = Drop, "the job no longer exists"
			return nil
		case !l.stepFound || !partFound:
			c.Outcome, c.Note = Drop, "the job has no such part"
			return nil
		case l.canceled || l.job == Canceled:
			c.Outcome, c.Note = Drop, "the job was canceled"
			return stopStep(ctx, tx, jobID, step)
		case l.job.Terminal() || l.step.Terminal():
			c.Outcome, c.Note = Drop, "the step already "+string(l.step)
			return nil
		case status.Terminal():
			c.Outcome, c.Note = Drop, "a repeat of a part that "+string(status)
			return nil
		case status == Running:
			if left := o.Lease - time.Since(updated); left > 0 {
				c.Outcome, c.Note, c.RetryIn = Busy, "part running elsewhere under a live lease", left
				return nil
			}
		}
		if attempts >= o.MaxAttempts {
			c.Outcome = Drop
			c.Failed = fmt.Sprintf("%s part %d did not finish after %d attempts", step, part, attempts)
			c.Note = c.Failed
			if _, err := tx.Exec(ctx, `UPDATE job_parts SET status = 'failed', error = $4, finished_at = now(), updated_at = now()
				WHERE job_id = $1 AND step = $2 AND part = $3`, jobID, step, part, c.Failed); err != nil {
				return fmt.Errorf("mark part failed: %w", err)
			}
			return failPartsTx(ctx, tx, jobID, step, c.Failed)
		}
		if _, err := tx.Exec(ctx, `UPDATE job_parts SET status = 'running', attempts = attempts + 1, error = NULL,
			started_at = coalesce(started_at, now()), updated_at = now() WHERE job_id = $1 AND step = $2 AND part = $3`,
			jobID, step, part); err != nil {
			return fmt.Errorf("mark part running: %w", err)
		}
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM job_parts WHERE job_id = $1 AND step = $2`, jobID, step).Scan(&c.Total); err != nil {
			return fmt.Errorf("count parts: %w", err)
		}
		c.Job, err = scanJob(tx.QueryRow(ctx, `SELECT `+jobColumns+` FROM jobs j WHERE j.id = $1`, jobID))
		if err != nil {
			return fmt.Errorf("read job: %w", err)
		}
		c.Outcome, c.Attempt = Run, attempts+1
		c.Range = Range{Start: time.Duration(startMS) * time.Millisecond, End: time.Duration(endMS) * time.Millisecond}
		return nil
	})
	if err != nil {
		return PartClaim{}, fmt.Errorf("claim %s part %d of job %s: %w", step, part, jobID, err)
	}
	return c, nil
}

// PartHeartbeat renews the lease of a part's attempt. It reports false when
// the attempt no longer holds the part.
func (s *Store) PartHeartbeat(ctx context.Context, jobID uuid.UUID, step string, part, attempt int) (bool, error) {
	tag, err := s.db.Exec(ctx, `UPDATE job_parts SET updated_at = now()
		WHERE job_id = $1 AND step = $2 AND part = $3 AND status = 'running' AND attempts = $4`, jobID, step, part, attempt)
	if err != nil {
		return false, fmt.Errorf("renew lease of %s part %d: %w", step, part, err)
	}
	return tag.RowsAffected() == 1, nil
}

// PartCost is what one invocation of a part was billed: its duration and
// the memory of its function.
type PartCost struct {
	BilledMS int64
	MemoryMB int
}

// PartFinish is what FinishPart did.
type PartFinish struct {
	// Recorded is false when the attempt no longer held the part (another
	// attempt took it over, or the job ended or was canceled).
	Recorded bool
	// Merge is the merge message to send when this part was the last to
	// finish; nil otherwise. Exactly one part's finish returns it.
	Merge *Dispatch
}

// FinishPart marks a part's attempt succeeded with its cost. The update that
// sets the part succeeded also returns whether every part of the step is
// now done, in one statement, under the step's row lock: the finish that
// completes the set, and only that one, gets the merge to send (after the
// commit, with SendMerge).
func (s *Store) FinishPart(ctx context.Context, jobID uuid.UUID, step string, part, attempt int, cost PartCost) (PartFinish, error) {
	var f PartFinish
	err := s.db.WithTx(ctx, func(tx pgx.Tx) error {
		f = PartFinish{}
		l, err := lock(ctx, tx, jobID, step)
		if err != nil || !l.stepFound || l.step != Running {
			return err
		}
		if !l.active() {
			return stopStep(ctx, tx, jobID, step)
		}
		var allDone bool
		err = tx.QueryRow(ctx, `
			WITH done AS (
				UPDATE job_parts SET status = 'succeeded', billed_ms = $5, memory_mb = $6, error = NULL,
					finished_at = now(), updated_at = now()
				WHERE job_id = $1 AND step = $2 AND part = $3 AND status = 'running' AND attempts = $4
				RETURNING part)
			SELECT NOT EXISTS (SELECT 1 FROM job_parts p WHERE p.job_id = $1 AND p.step = $2
				AND p.status <> 'succeeded' AND p.part NOT IN (SELECT part FROM done))
			FROM done`, jobID, step, part, attempt, cost.BilledMS, cost.MemoryMB).Scan(&allDone)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil // the attempt no longer held the part
		}
		if err != nil {
			return fmt.Errorf("mark part succeeded: %w", err)
		}
		f.Recorded = true
		if _, err := tx.Exec(ctx, `UPDATE job_steps SET updated_at = now() WHERE job_id = $1 AND step = $2`, jobID, step); err != nil {
			return fmt.Errorf("renew step: %w", err)
		}
		if allDone {
			f.Merge = &Dispatch{JobID: jobID, Step: step, Attempt: l.dispatch, TraceID: l.trace, Merge: true}
		}
		return nil
	})
	if err != nil {
		return PartFinish{}, fmt.Errorf("finish %s part %d of job %s: %w", step, part, jobID, err)
	}
	return f, nil
}

// RetryPart hands a part's attempt back to the queue after a transient
// error (its message comes back), keeping the error.
func (s *Store) RetryPart(ctx context.Context, jobID uuid.UUID, step string, part, attempt int, reason string) error {
	if _, err := s.db.Exec(ctx, `UPDATE job_parts SET status = 'queued', error = $5, updated_at = now()
		WHERE job_id = $1 AND step = $2 AND part = $3 AND status = 'running' AND attempts = $4`,
		jobID, step, part, attempt, truncate(reason, 2000)); err != nil {
		return fmt.Errorf("requeue %s part %d: %w", step, part, err)
	}
	return nil
}

// FailPart fails a part, its step and its job with reason (a sentence a
// person can read); the step's other open parts are canceled. It reports
// whether it changed anything.
func (s *Store) FailPart(ctx context.Context, jobID uuid.UUID, step string, part int, reason string) (bool, error) {
	changed := false
	err := s.db.WithTx(ctx, func(tx pgx.Tx) error {
		l, err := lock(ctx, tx, jobID, step)
		if err != nil || !l.active() {
			return err
		}
		changed = true
		if _, err := tx.Exec(ctx, `UPDATE job_parts SET status = 'failed', error = $4, finished_at = now(), updated_at = now()
			WHERE job_id = $1 AND step = $2 AND part = $3`, jobID, step, part, truncate(reason, 4000)); err != nil {
			return fmt.Errorf("mark part failed: %w", err)
		}
		return failPartsTx(ctx, tx, jobID, step, reason)
	})
	if err != nil {
		return false, fmt.Errorf("fail %s part %d of job %s: %w", step, part, jobID, err)
	}
	return changed, nil
}

// failPartsTx cancels the step's open parts and applies the failure rule.
func failPartsTx(ctx context.Context, tx pgx.Tx, jobID uuid.UUID, step, reason string) error {
	if _, err := tx.Exec(ctx, `UPDATE job_parts SET status = 'canceled', finished_at = now(), updated_at = now()
		WHERE job_id = $1 AND step = $2 AND status IN ('queued', 'running')`, jobID, step); err != nil {
		return fmt.Errorf("cancel other parts: %w", err)
	}
	return failTx(ctx, tx, jobID, step, reason)
}

// ClaimMerge takes the merge of a step whose parts all succeeded: the step
// (still running, held by its parts) gets a new attempt and a fresh lease,
// and the caller records the step's outcome with Succeed, Retry or Fail as
// for a whole step. A merge of a step that ended, of a canceled or missing
// job, or of a step whose parts are not all done is dropped.
func (s *Store) ClaimMerge(ctx context.Context, jobID uuid.UUID, step string, o ClaimOptions) (Claim, error) {
	var c Claim
	err := s.db.WithTx(ctx, func(tx pgx.Tx) error {
		c = Claim{}
		l, err := lock(ctx, tx, jobID, step)
		switch {
		case err != nil:
			return err
		case !l.jobFound || !l.stepFound:
			c.Outcome, c.Note = Drop, "the job or step no longer exists"
			return nil
		case l.canceled || l.job == Canceled:
			c.Outcome, c.Note = Drop, "the job was canceled"
			return stopStep(ctx, tx, jobID, step)
		case l.job.Terminal() || (l.step != Running && l.step != Queued):
			// Queued: a merge attempt failed and handed its message back (Retry).
			c.Outcome, c.Note = Drop, "the step is "+string(l.step)
			return nil
		}
		var open int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM job_parts WHERE job_id = $1 AND step = $2 AND status <> 'succeeded'`,
			jobID, step).Scan(&open); err != nil {
			return fmt.Errorf("count open parts: %w", err)
		}
		if open > 0 {
			c.Outcome, c.Note = Drop, fmt.Sprintf("%d parts are not done; the last one sends the merge", open)
			return nil
		}
		if l.attempts >= o.MaxAttempts+1 { // the split used one attempt
			c.Outcome = Drop
			c.Failed = fmt.Sprintf("%s merge did not finish after %d attempts", step, l.attempts)
			c.Note = c.Failed
			return failTx(ctx, tx, jobID, step, c.Failed)
		}
		if _, err := tx.Exec(ctx, `UPDATE job_steps SET status = 'running', attempts = attempts + 1, error = NULL,
			progress_stage = 'merging', updated_at = now() WHERE job_id = $1 AND step = $2`, jobID, step); err != nil {
			return fmt.Errorf("mark merge running: %w", err)
		}
		c.Job, err = scanJob(tx.QueryRow(ctx, `SELECT `+jobColumns+` FROM jobs j WHERE j.id = $1`, jobID))
		if err != nil {
			return fmt.Errorf("read job: %w", err)
		}
		c.Outcome, c.Attempt = Run, l.attempts+1
		return nil
	})
	if err != nil {
		return Claim{}, fmt.Errorf("claim %s merge of job %s: %w", step, jobID, err)
	}
	return c, nil
}

// UnsentParts lists parts that are queued but were never sent (the process
// that split the step died before sending them, or a send failed), oldest
// first, once they are older than grace.
func (s *Store) UnsentParts(ctx context.Context, grace time.Duration, limit int) ([]PartDispatch, error) {
	rows, err := s.db.Query(ctx, `
		SELECT p.job_id, p.step, p.part, p.dispatch, j.trace_id FROM job_parts p JOIN jobs j ON j.id = p.job_id
		WHERE p.status = 'queued' AND p.enqueued_at IS NULL AND p.updated_at < now() - make_interval(secs => $1)
		  AND j.status IN ('queued', 'running') AND NOT j.cancel_requested
		ORDER BY p.updated_at LIMIT $2`, grace.Seconds(), limit)
	if err != nil {
		return nil, fmt.Errorf("find unsent parts: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (PartDispatch, error) {
		var d PartDispatch
		return d, r.Scan(&d.JobID, &d.Step, &d.Part, &d.Attempt, &d.TraceID)
	})
	if err != nil {
		return nil, fmt.Errorf("find unsent parts: %w", err)
	}
	return list, nil
}

// ExpiredParts hands every running part whose lease ran out back to the
// queue as a new dispatch of that part alone, and returns the dispatches to
// send. The dead worker's message, when it comes back, is an older send.
func (s *Store) ExpiredParts(ctx context.Context, lease time.Duration, limit int) ([]PartDispatch, error) {
	rows, err := s.db.Query(ctx, `
		SELECT p.job_id, p.step, p.part FROM job_parts p JOIN jobs j ON j.id = p.job_id
		WHERE p.status = 'running' AND p.updated_at < now() - make_interval(secs => $1)
		  AND j.status IN ('queued', 'running') AND NOT j.cancel_requested
		ORDER BY p.updated_at LIMIT $2`, lease.Seconds(), limit)
	if err != nil {
		return nil, fmt.Errorf("find expired part leases: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (PartDispatch, error) {
		var d PartDispatch
		return d, r.Scan(&d.JobID, &d.Step, &d.Part)
	})
	if err != nil {
		return nil, fmt.Errorf("find expired part leases: %w", err)
	}
	var out []PartDispatch
	for _, c := range list {
		err := s.db.WithTx(ctx, func(tx pgx.Tx) error {
			l, err := lock(ctx, tx, c.JobID, c.Step)
			if err != nil || !l.active() {
				return err
			}
			d := c
			d.TraceID = l.trace
			err = tx.QueryRow(ctx, `UPDATE job_parts SET status = 'queued', dispatch = dispatch + 1, enqueued_at = NULL,
				error = 'its worker stopped answering; started again', updated_at = now()
				WHERE job_id = $1 AND step = $2 AND part = $3 AND status = 'running'
				  AND updated_at < now() - make_interval(secs => $4)
				RETURNING dispatch`, c.JobID, c.Step, c.Part, lease.Seconds()).Scan(&d.Attempt)
			if errors.Is(err, pgx.ErrNoRows) {
				return nil // renewed or ended meanwhile
			}
			if err != nil {
				return fmt.Errorf("requeue expired part: %w", err)
			}
			out = append(out, d)
			return nil
		})
		if err != nil {
			return out, fmt.Errorf("requeue %s part %d of job %s: %w", c.Step, c.Part, c.JobID, err)
		}
	}
	return out, nil
}

// DeadLetterPart judges a part message that reached its dead-letter queue,
// with DeadLetter's rules applied to the part: only the part's current send
// of a part that has not ended fails the job.
func (s *Store) DeadLetterPart(ctx context.Context, d PartDispatch, lease time.Duration, reason string) (DeadVerdict, error) {
	v := DeadStale
	err := s.db.WithTx(ctx, func(tx pgx.Tx) error {
		v = DeadStale
		l, err := lock(ctx, tx, d.JobID, d.Step)
		if err != nil || !l.stepFound || l.job == Succeeded {
			return err
		}
		var status Status
		var dispatch int
		var updated time.Time
		err = tx.QueryRow(ctx, `SELECT status, dispatch, updated_at FROM job_parts WHERE job_id = $1 AND step = $2 AND part = $3 FOR UPDATE`,
			d.JobID, d.Step, d.Part).Scan(&status, &dispatch, &updated)
		if errors.Is(err, pgx.ErrNoRows) || d.Attempt < dispatch {
			return nil
		}
		if err != nil {
			return fmt.Errorf("lock part: %w", err)
		}
		switch {
		case l.canceled || l.job == Canceled, status == Failed:
			v = DeadKept
		case status.Terminal():
		case status == Running && time.Since(updated) < lease:
			v = DeadKept
		case l.active():
			v = DeadFailed
			if _, err := tx.Exec(ctx, `UPDATE job_parts SET status = 'failed', error = $4, finished_at = now(), updated_at = now()
				WHERE job_id = $1 AND step = $2 AND part = $3`, d.JobID, d.Step, d.Part, truncate(reason, 4000)); err != nil {
				return fmt.Errorf("mark part failed: %w", err)
			}
			return failPartsTx(ctx, tx, d.JobID, d.Step, reason)
		}
		return nil
	})
	if err != nil {
		return DeadKept, fmt.Errorf("judge dead letter of %s part %d, job %s: %w", d.Step, d.Part, d.JobID, err)
	}
	return v, nil
}

// Parts is a step's parts, for progress: how many, how many done, and the
// media time of each (done parts weigh by their length).
type Parts struct {
	Total   int   `json:"total"`
	Done    int   `json:"done"`
	TotalMS int64 `json:"total_ms"`
	DoneMS  int64 `json:"done_ms"`
}

// partTotals adds up the rows of job_parts p as Parts' columns; PartCounts
// and Get (getSQL) share it.
const partTotals = `count(*) AS total, count(*) FILTER (WHERE p.status = 'succeeded') AS done,
	coalesce(sum(p.end_ms - p.start_ms), 0) AS total_ms,
	coalesce(sum(p.end_ms - p.start_ms) FILTER (WHERE p.status = 'succeeded'), 0) AS done_ms`

// PartCounts returns the parts of each split step of a job, by step name.
func (s *Store) PartCounts(ctx context.Context, jobID uuid.UUID) (map[string]Parts, error) {
	rows, err := s.db.Query(ctx, `SELECT p.step, `+partTotals+` FROM job_parts p WHERE p.job_id = $1 GROUP BY p.step`, jobID)
	if err != nil {
		return nil, fmt.Errorf("count parts of job %s: %w", jobID, err)
	}
	defer rows.Close()
	out := map[string]Parts{}
	for rows.Next() {
		var step string
		var p Parts
		if err := rows.Scan(&step, &p.Total, &p.Done, &p.TotalMS, &p.DoneMS); err != nil {
			return nil, fmt.Errorf("count parts of job %s: %w", jobID, err)
		}
		out[step] = p
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count parts of job %s: %w", jobID, err)
	}
	return out, nil
}

// Percent is the share of the media's length that done parts cover, 0-100.
func (p Parts) Percent() float64 {
	if p.TotalMS <= 0 {
		return 0
	}
	return 100 * float64(p.DoneMS) / float64(p.TotalMS)
}
