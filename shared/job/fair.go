package job

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Fair share (issue 13): a step queue's workers (its MaximumConcurrency) are
// shared by every user, and SQS hands out messages roughly in the order they
// were sent, so a user who queues thirty jobs would hold everyone else's
// first steps behind them. Instead, a user's jobs run at most StepsPerUser
// steps of one kind at once. A claim over that share parks the step: it
// stays queued, marked unsent (enqueued_at NULL), and its message is
// dropped, so the worker moves on to the next message at once (a message
// handed back would count a receive each time and reach the dead-letter
// queue after maxReceiveCount). When one of the user's steps of that kind
// ends, the runner asks Unpark for the user's oldest parked steps and sends
// them; the sweeper's Unsent is the backstop for a wake-up that was lost.
//
// Both sides count the user's running steps under one transaction-scoped
// advisory lock per (user, step), so a step parked while another is ending
// is always seen by that other's Unpark: it is never left waiting for the
// sweeper when a place is free. The claim takes the lock after the job's
// and the step's row locks; Unpark takes no row locks, so the order holds.

// parkOverShare parks the claimed step when its user already runs their
// share of steps of this kind (live leases only: a dead worker's step does
// not hold a place). It reports whether it parked. Only a queued step is
// parked: a running one with an expired lease is a takeover and proceeds.
func parkOverShare(ctx context.Context, tx pgx.Tx, jobID uuid.UUID, step string, l locked, o ClaimOptions) (bool, error) {
	if o.StepsPerUser <= 0 || l.step != Queued {
		return false, nil
	}
	var user uuid.UUID
	if err := tx.QueryRow(ctx, `SELECT user_id FROM jobs WHERE id = $1`, jobID).Scan(&user); err != nil {
		return false, fmt.Errorf("read the job's user: %w", err)
	}
	running, err := runningOfUser(ctx, tx, user, step, o.Lease)
	if err != nil || running < o.StepsPerUser {
		return false, err
	}
	if _, err := tx.Exec(ctx, `UPDATE job_steps SET enqueued_at = NULL, parked_at = now(), updated_at = now()
		WHERE job_id = $1 AND step = $2 AND status = 'queued'`, jobID, step); err != nil {
		return false, fmt.Errorf("park step: %w", err)
	}
	return true, nil
}

// runningOfUser locks the user's share of step (transaction advisory lock)
// and counts their steps of that kind running under a live lease.
func runningOfUser(ctx context.Context, tx pgx.Tx, user uuid.UUID, step string, lease time.Duration) (int, error) {
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('job_steps:share:' || $1::text || ':' || $2, 0))`,
		user, step); err != nil {
		return 0, fmt.Errorf("lock the user's share of %s: %w", step, err)
	}
	var n int
	err := tx.QueryRow(ctx, `
		SELECT count(*) FROM job_steps st JOIN jobs j ON j.id = st.job_id
		WHERE j.user_id = $1 AND st.step = $2 AND st.status = 'running'
		  AND st.updated_at > now() - make_interval(secs => $3)`, user, step, lease.Seconds()).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count the user's running %s steps: %w", step, err)
	}
	return n, nil
}

// Unpark takes the user's parked steps of this kind that fit in their share
// now, oldest job first, and returns them for the caller to Send; a step it
// takes is no longer parked, so another Unpark does not send it too (a send
// that fails leaves it unsent, for the sweeper). With StepsPerUser 0 it
// returns none. It takes the step rows without their jobs' (against the lock
// order of state.go), which is safe only because it never waits for them.
func (s *Store) Unpark(ctx context.Context, user uuid.UUID, step string, o ClaimOptions) ([]Dispatch, error) {
	if o.StepsPerUser <= 0 {
		return nil, nil
	}
	var out []Dispatch
	err := s.db.WithTx(ctx, func(tx pgx.Tx) error {
		out = nil
		running, err := runningOfUser(ctx, tx, user, step, o.Lease)
		if err != nil || running >= o.StepsPerUser {
			return err
		}
		// SKIP LOCKED: a step whose row a claim holds is skipped, never
		// waited for (that claim waits for this lock, and counts after it).
		rows, err := tx.Query(ctx, `
			WITH woken AS (
				SELECT st.job_id, st.step FROM job_steps st JOIN jobs j ON j.id = st.job_id
				WHERE j.user_id = $1 AND st.step = $2 AND st.status = 'queued' AND st.parked_at IS NOT NULL
				  AND st.enqueued_at IS NULL AND j.status IN ('queued', 'running') AND NOT j.cancel_requested
				ORDER BY j.created_at, j.id LIMIT $3
				FOR UPDATE OF st SKIP LOCKED)
			UPDATE job_steps st SET parked_at = NULL FROM woken, jobs j
			WHERE st.job_id = woken.job_id AND st.step = woken.step AND j.id = st.job_id
			RETURNING st.job_id, st.step, st.dispatch, j.trace_id`, user, step, o.StepsPerUser-running)
		if err != nil {
			return fmt.Errorf("find parked steps: %w", err)
		}
		out, err = collectDispatches(rows)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("unpark %s steps: %w", step, err)
	}
	return out, nil
}
