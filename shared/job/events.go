package job

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// The event types of the job_events outbox.
const (
	EventSucceeded = "job.succeeded"
	EventFailed    = "job.failed"
	EventCanceled  = "job.canceled"
	// EventProgress is a step that succeeded and was not the last: at most
	// one per step run. It is never metered (only ends are).
	EventProgress = "job.progress"
)

// Event is a row of the job_events outbox: a job's end, or a step's success
// (job.progress). It stays until shared/webhook has turned it into
// deliveries and shared/cost has written its job-end metrics. It outlives
// its job: a job deleted with its asset ends first.
type Event struct {
	ID         uuid.UUID
	JobID      uuid.UUID
	UserID     uuid.UUID
	Type       string // EventSucceeded, EventFailed, EventCanceled or EventProgress
	Recipe     Recipe
	AssetID    uuid.UUID
	Error      *string
	FinishedAt time.Time // the job's end; for job.progress, the step's
	// JobCreatedAt is when the job was created (JobDuration is FinishedAt
	// minus it).
	JobCreatedAt time.Time
	// Step and Progress are set for job.progress: the step that succeeded
	// and the job's progress (0-100) after it.
	Step     string
	Progress *float64
	// JobGone is set by MeterEnds when the job no longer exists (deleted
	// with its asset); its cost went with it.
	JobGone bool
}

const eventColumns = `e.id, e.job_id, e.user_id, e.type, e.recipe, e.asset_id, e.error, e.finished_at, e.job_created_at, e.step, e.progress_percent`

func scanEvent(r pgx.CollectableRow, extra ...any) (Event, error) {
	var e Event
	var p *float32
	err := r.Scan(append([]any{&e.ID, &e.JobID, &e.UserID, &e.Type, &e.Recipe, &e.AssetID, &e.Error, &e.FinishedAt, &e.JobCreatedAt, &e.Step, &p}, extra...)...)
	if p != nil {
		v := float64(*p)
		e.Progress = &v
	}
	return e, err
}

// recordEndTx writes the outbox row of a job that has just ended, in the
// transaction that ended it, so the event commits with the end or not at
// all. A job still running is left alone, and a repeat within the same
// transaction (now() does not move) writes nothing.
func recordEndTx(ctx context.Context, tx pgx.Tx, jobID uuid.UUID) error {
	if _, err := tx.Exec(ctx, `
		INSERT INTO job_events (id, job_id, user_id, type, recipe, asset_id, error, finished_at, job_created_at)
		SELECT $2, id, user_id, 'job.' || status, recipe, asset_id, error, coalesce(finished_at, now()), created_at
		FROM jobs WHERE id = $1 AND status IN ('succeeded', 'failed', 'canceled')
		ON CONFLICT (job_id, type, step, finished_at) DO NOTHING`, jobID, uuid.New()); err != nil {
		return fmt.Errorf("record job end event: %w", err)
	}
	return nil
}

// recordProgressTx writes the job.progress row of a step that has just
// succeeded with a step after it, in the transaction that marked it. It
// needs no metering, so it is written metered.
func recordProgressTx(ctx context.Context, tx pgx.Tx, jobID uuid.UUID, step string) error {
	if _, err := tx.Exec(ctx, `
		INSERT INTO job_events (id, job_id, user_id, type, recipe, asset_id, finished_at, job_created_at, step, progress_percent, metered_at)
		SELECT $2, j.id, j.user_id, 'job.progress', j.recipe, j.asset_id, s.finished_at, j.created_at, s.step,
		       (SELECT 100.0 * count(*) FILTER (WHERE status IN ('succeeded', 'skipped')) / count(*) FROM job_steps WHERE job_id = j.id),
		       now()
		FROM jobs j JOIN job_steps s ON s.job_id = j.id AND s.step = $3
		WHERE j.id = $1 AND s.status = 'succeeded'
		ON CONFLICT (job_id, type, step, finished_at) DO NOTHING`, jobID, uuid.New(), step); err != nil {
		return fmt.Errorf("record progress event of %s: %w", step, err)
	}
	return nil
}

// EndAssetJobsTx ends the asset's queued and running jobs as canceled
// ("deleted with its asset") with their events. shared/asset calls it in the
// transaction that deletes the asset, which takes its jobs with it: a
// deleted job's end is metered and delivered like any other.
func EndAssetJobsTx(ctx context.Context, tx pgx.Tx, assetID uuid.UUID) error {
	rows, err := tx.Query(ctx, `
		UPDATE jobs SET status = 'canceled', cancel_requested = true, error = 'deleted with its asset',
		       finished_at = now(), updated_at = now()
		WHERE asset_id = $1 AND status NOT IN ('succeeded', 'failed', 'canceled') RETURNING id`, assetID)
	if err != nil {
		return fmt.Errorf("end jobs of asset %s: %w", assetID, err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil {
		return fmt.Errorf("end jobs of asset %s: %w", assetID, err)
	}
	for _, id := range ids {
		if err := recordEndTx(ctx, tx, id); err != nil {
			return err
		}
	}
	return nil
}

// UndispatchedEventsTx locks up to limit events not yet dispatched, oldest
// first, skipping those another dispatcher holds. Mark them with
// MarkDispatchedTx in the same transaction.
func (s *Store) UndispatchedEventsTx(ctx context.Context, tx pgx.Tx, limit int) ([]Event, error) {
	rows, err := tx.Query(ctx, `SELECT `+eventColumns+` FROM job_events e
		WHERE e.dispatched_at IS NULL ORDER BY e.created_at LIMIT $1 FOR UPDATE SKIP LOCKED`, limit)
	if err != nil {
		return nil, fmt.Errorf("list undispatched job events: %w", err)
	}
	evs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Event, error) { return scanEvent(r) })
	if err != nil {
		return nil, fmt.Errorf("read job events: %w", err)
	}
	return evs, nil
}

// MarkDispatchedTx records that the events have their deliveries.
func (s *Store) MarkDispatchedTx(ctx context.Context, tx pgx.Tx, ids []uuid.UUID) error {
	return markTx(ctx, tx, "dispatched_at", ids)
}

func markTx(ctx context.Context, tx pgx.Tx, column string, ids []uuid.UUID) error {
	if len(ids) == 0 {
		return nil
	}
	strs := make([]string, len(ids))
	for i, id := range ids {
		strs[i] = id.String()
	}
	if _, err := tx.Exec(ctx, `UPDATE job_events SET `+column+` = now() WHERE id = ANY($1::uuid[])`, strs); err != nil {
		return fmt.Errorf("mark job events (%s): %w", column, err)
	}
	return nil
}

// MeterEnds hands up to limit job ends not yet metered, at least settle
// old, oldest first, to write (which writes their metrics), and marks them
// metered when it returns nil, all in one transaction that holds their row
// locks, so two sweeps never meter one end twice. settle gives the step that
// ended the job time to record its own usage first. It returns how many
// ends were metered; an error from write leaves them for the next run.
func (s *Store) MeterEnds(ctx context.Context, settle time.Duration, limit int, write func(ctx context.Context, evs []Event) error) (int, error) {
	n := 0
	err := s.db.WithTx(ctx, func(tx pgx.Tx) error {
		n = 0
		rows, err := tx.Query(ctx, `SELECT `+eventColumns+`, j.id IS NULL FROM job_events e LEFT JOIN jobs j ON j.id = e.job_id
			WHERE e.metered_at IS NULL AND e.type <> 'job.progress' AND e.created_at <= now() - make_interval(secs => $1)
			ORDER BY e.created_at LIMIT $2 FOR UPDATE OF e SKIP LOCKED`, settle.Seconds(), limit)
		if err != nil {
			return fmt.Errorf("list unmetered job ends: %w", err)
		}
		evs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Event, error) {
			var gone bool
			e, err := scanEvent(r, &gone)
			e.JobGone = gone
			return e, err
		})
		if err != nil || len(evs) == 0 {
			return err
		}
		if err := write(ctx, evs); err != nil {
			return err
		}
		ids := make([]uuid.UUID, len(evs))
		for i, e := range evs {
			ids[i] = e.ID
		}
		n = len(ids)
		return markTx(ctx, tx, "metered_at", ids)
	})
	if err != nil {
		return 0, fmt.Errorf("meter job ends: %w", err)
	}
	return n, nil
}

// PruneEvents removes the metered events of deleted jobs once they are two
// days old, past the day over which their webhook deliveries are retried
// (the deliveries go with them, as they went with the job before). It
// returns how many it removed.
func (s *Store) PruneEvents(ctx context.Context) (int, error) {
	tag, err := s.db.Exec(ctx, `DELETE FROM job_events e
		WHERE e.metered_at IS NOT NULL AND e.created_at < now() - interval '2 days'
		AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.id = e.job_id)`)
	if err != nil {
		return 0, fmt.Errorf("prune job events of deleted jobs: %w", err)
	}
	return int(tag.RowsAffected()), nil
}
