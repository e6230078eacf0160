package asset_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/redub/redub/shared/asset"
	"github.com/redub/redub/shared/postgres/pgtest"
)

// TestQuotaCountsBytesAcceptedWhateverWasDeleted: deleting or aborting an
// upload does not give its bytes back to the day's quota; the next UTC day
// starts afresh.
func TestQuotaCountsBytesAcceptedWhateverWasDeleted(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	ctx := t.Context()
	store := asset.NewStore(db)
	user := uuid.New()
	_, err := db.Exec(ctx, `INSERT INTO users (id, email) VALUES ($1, $2)`, user, user.String()+"@example.com")
	require.NoError(t, err)
	now := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	upload := func(size int64, at time.Time) (asset.Asset, error) {
		return store.Create(ctx, asset.NewAsset{UserID: user, Filename: "a.mp4", ContentType: "video/mp4", SizeBytes: size, DailyQuota: 1000, Now: at})
	}
	a, err := upload(600, now)
	require.NoError(t, err)
	_, _, err = store.Delete(ctx, user, a.ID, false)
	require.NoError(t, err)
	b, err := upload(300, now)
	require.NoError(t, err, "600 + 300 of 1000")
	_, _, err = store.Delete(ctx, user, b.ID, true) // an aborted upload
	require.NoError(t, err)

	_, err = upload(200, now)
	var q *asset.QuotaError
	require.ErrorAs(t, err, &q, "600 and 300 were accepted today, though both were deleted")
	require.Equal(t, int64(900), q.Used)
	require.Equal(t, time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC), q.Resets)
	_, err = upload(100, now)
	require.NoError(t, err, "what is left of the quota is still there")

	_, err = upload(900, now.Add(24*time.Hour))
	require.NoError(t, err, "a new UTC day has its own quota")

	n, err := store.PruneUsage(context.Background(), now.Add(24*time.Hour))
	require.NoError(t, err)
	require.Equal(t, int64(1), n, "the earlier day's counter goes")
}
