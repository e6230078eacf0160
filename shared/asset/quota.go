package asset

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// accept counts size bytes against the user's quota for day, or returns a
// QuotaError when they would go over it. The count lives in upload_usage
// (this package's table), one row per user and UTC day, which only grows:
// deleting or aborting an upload does not give its bytes back, or a user
// could upload, delete and upload again without end (issue 13). While code
// that does not keep the counter may still run (a deploy), the live assets'
// sum is the floor. The caller holds the user's row lock.
func accept(ctx context.Context, tx pgx.Tx, userID uuid.UUID, day time.Time, size, quota int64) error {
	var used int64
	err := tx.QueryRow(ctx, `
		SELECT greatest(
			(SELECT bytes FROM upload_usage WHERE user_id = $1 AND day = $2::date),
			(SELECT coalesce(sum(size_bytes), 0) FROM assets WHERE user_id = $1 AND created_at >= $3))`,
		userID, day.Format(time.DateOnly), day).Scan(&used)
	if err != nil {
		return fmt.Errorf("read today's uploads: %w", err)
	}
	if used+size > quota {
		return &QuotaError{Used: used, Quota: quota, Resets: day.Add(24 * time.Hour)}
	}
	if _, err := tx.Exec(ctx, `
		INSERT INTO upload_usage (user_id, day, bytes) VALUES ($1, $2::date, $3)
		ON CONFLICT (user_id, day) DO UPDATE SET bytes = $3, updated_at = now()`,
		userID, day.Format(time.DateOnly), used+size); err != nil {
		return fmt.Errorf("count the upload against today's quota: %w", err)
	}
	return nil
}

// PruneUsage removes the quota counters of days before the given one (the
// sweeper's cleanup); only today's is ever read.
func (s *Store) PruneUsage(ctx context.Context, before time.Time) (int64, error) {
	tag, err := s.db.Exec(ctx, `DELETE FROM upload_usage WHERE day < $1::date`, before.UTC().Format(time.DateOnly))
	if err != nil {
		return 0, fmt.Errorf("prune upload counters: %w", err)
	}
	return tag.RowsAffected(), nil
}
