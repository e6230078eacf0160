package job

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/redub/redub/shared/apperr"
)

// Caps bound how many jobs may be active (queued or running) at once, so one
// user cannot queue unbounded work (each job re-runs transcode and may pay
// providers). Zero means no cap.
type Caps struct {
	PerUser  int // the user's active jobs (MAX_ACTIVE_JOBS_PER_USER)
	PerAsset int // active jobs on one asset (MAX_ACTIVE_JOBS_PER_ASSET)
}

// checkCaps refuses a new job over n.Caps with a Conflict naming the cap.
// The count and the insert that follows hold a transaction-scoped advisory
// lock on the user (PgBouncer's transaction mode allows those, unlike session
// locks), taken after the asset's row lock as every job insert takes it, so
// two concurrent requests cannot both count below the cap. A repeat of an
// idempotency key that already made a job is not a new job and passes.
func checkCaps(ctx context.Context, tx pgx.Tx, n NewJob) error {
	if n.Caps.PerUser <= 0 && n.Caps.PerAsset <= 0 {
		return nil
	}
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('jobs:create:' || $1::text, 0))`, n.UserID); err != nil {
		return fmt.Errorf("lock the user's job count: %w", err)
	}
	var user, asset int
	var repeat bool
	err := tx.QueryRow(ctx, `
		SELECT count(*), count(*) FILTER (WHERE asset_id = $2),
		       EXISTS (SELECT 1 FROM jobs WHERE user_id = $1 AND idempotency_key = $3)
		FROM jobs WHERE user_id = $1 AND status IN ('queued', 'running')`,
		n.UserID, n.AssetID, n.IdempotencyKey).Scan(&user, &asset, &repeat)
	if err != nil {
		return fmt.Errorf("count active jobs: %w", err)
	}
	switch {
	case repeat:
		return nil
	case n.Caps.PerUser > 0 && user >= n.Caps.PerUser:
		return apperr.New(apperr.Conflict, "you already have %d jobs queued or running, the most one account may have at once; "+
			"wait for one to finish or cancel one", user)
	case n.Caps.PerAsset > 0 && asset >= n.Caps.PerAsset:
		return apperr.New(apperr.Conflict, "asset %s already has %d jobs queued or running, the most one asset may have at once; "+
			"wait for one to finish or cancel one", n.AssetID, asset)
	}
	return nil
}

// Active counts the user's jobs that are queued or running (what
// Caps.PerUser bounds), for callers that refuse work early: POST /uploads
// with a recipe, whose job ingest creates later.
func (s *Store) Active(ctx context.Context, userID uuid.UUID) (int, error) {
	var n int
	if err := s.db.QueryRow(ctx, `SELECT count(*) FROM jobs WHERE user_id = $1 AND status IN ('queued', 'running')`, userID).Scan(&n); err != nil {
		return 0, fmt.Errorf("count active jobs: %w", err)
	}
	return n, nil
}
