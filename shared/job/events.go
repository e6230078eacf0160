package job

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Event is a job's end, kept in the job_events outbox until shared/webhook
// has turned it into deliveries.
type Event struct {
	ID         uuid.UUID
	JobID      uuid.UUID
	UserID     uuid.UUID
	Type       string // job.succeeded, job.failed or job.canceled
	Recipe     Recipe
	AssetID    uuid.UUID
	Error      *string
	FinishedAt time.Time
}

// recordEndTx writes the outbox row of a job that has just ended, in the
// transaction that ended it, so the event commits with the end or not at
// all. A job still running is left alone, and a repeat within the same
// transaction (now() does not move) writes nothing.
func recordEndTx(ctx context.Context, tx pgx.Tx, jobID uuid.UUID) error {
	if _, err := tx.Exec(ctx, `
		INSERT INTO job_events (id, job_id, user_id, type, recipe, asset_id, error, finished_at)
		SELECT $2, id, user_id, 'job.' || status, recipe, asset_id, error, coalesce(finished_at, now())
		FROM jobs WHERE id = $1 AND status IN ('succeeded', 'failed', 'canceled')
		ON CONFLICT (job_id, type, finished_at) DO NOTHING`, jobID, uuid.New()); err != nil {
		return fmt.Errorf("record job end event: %w", err)
	}
	return nil
}

// UndispatchedEventsTx locks up to limit events not yet dispatched, oldest
// first, skipping those another dispatcher holds. Mark them with
// MarkDispatchedTx in the same transaction.
func (s *Store) UndispatchedEventsTx(ctx context.Context, tx pgx.Tx, limit int) ([]Event, error) {
	rows, err := tx.Query(ctx, `
		SELECT id, job_id, user_id, type, recipe, asset_id, error, finished_at FROM job_events
		WHERE dispatched_at IS NULL ORDER BY created_at LIMIT $1 FOR UPDATE SKIP LOCKED`, limit)
	if err != nil {
		return nil, fmt.Errorf("list undispatched job events: %w", err)
	}
	evs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Event, error) {
		var e Event
		err := r.Scan(&e.ID, &e.JobID, &e.UserID, &e.Type, &e.Recipe, &e.AssetID, &e.Error, &e.FinishedAt)
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("read job events: %w", err)
	}
	return evs, nil
}

// MarkDispatchedTx records that the events have their deliveries.
func (s *Store) MarkDispatchedTx(ctx context.Context, tx pgx.Tx, ids []uuid.UUID) error {
	strs := make([]string, len(ids))
	for i, id := range ids {
		strs[i] = id.String()
	}
	if _, err := tx.Exec(ctx, `UPDATE job_events SET dispatched_at = now() WHERE id = ANY($1::uuid[])`, strs); err != nil {
		return fmt.Errorf("mark job events dispatched: %w", err)
	}
	return nil
}
