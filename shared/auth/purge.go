package auth

import (
	"context"
	"fmt"

	"github.com/redub/redub/shared/postgres"
)

// PurgeSessions removes sessions that expired or were revoked more than 30
// days ago (the sweeper calls it).
func PurgeSessions(ctx context.Context, db *postgres.DB) error {
	if _, err := db.Exec(ctx, `DELETE FROM sessions WHERE expires_at < now() - interval '30 days' OR revoked_at < now() - interval '30 days'`); err != nil {
		return fmt.Errorf("purge old sessions: %w", err)
	}
	return nil
}
