// Package asset holds uploaded media: pending uploads with their presigned
// URLs, validation of what may be uploaded, the daily quota, listing,
// downloads (of assets and of job outputs) and deletion of rows and objects.
package asset

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/redub/redub/shared/apperr"
	"github.com/redub/redub/shared/job"
	"github.com/redub/redub/shared/postgres"
	"github.com/redub/redub/shared/storage"
)

// Status is an asset's state: pending until its upload is verified by ingest.
type Status string

// Asset states.
const (
	Pending  Status = "pending"
	Ready    Status = "ready"
	Rejected Status = "rejected"
)

// Asset is one uploaded file.
type Asset struct {
	ID           uuid.UUID       `json:"id"`
	UserID       uuid.UUID       `json:"-"`
	Status       Status          `json:"status"`
	Kind         *string         `json:"kind"`
	Filename     string          `json:"filename"`
	ContentType  string          `json:"content_type"`
	SizeBytes    int64           `json:"size_bytes"`
	ObjectKey    string          `json:"-"`
	UploadID     *string         `json:"-"`
	Recipe       *string         `json:"recipe"`
	Params       json.RawMessage `json:"params"`
	Probe        json.RawMessage `json:"probe,omitempty"`
	RejectReason *string         `json:"reject_reason"`
	CreatedAt    time.Time       `json:"created_at"`
	UpdatedAt    time.Time       `json:"updated_at"`
}

// Store reads and writes assets.
type Store struct{ db *postgres.DB }

// NewStore returns a Store over db.
func NewStore(db *postgres.DB) *Store { return &Store{db: db} }

const columns = `id, user_id, status, kind, filename, content_type, size_bytes, object_key, upload_id, recipe, params,
	probe, reject_reason, created_at, updated_at`

func scan(row pgx.Row) (Asset, error) {
	var a Asset
	var params, probe []byte
	err := row.Scan(&a.ID, &a.UserID, &a.Status, &a.Kind, &a.Filename, &a.ContentType, &a.SizeBytes, &a.ObjectKey,
		&a.UploadID, &a.Recipe, &params, &probe, &a.RejectReason, &a.CreatedAt, &a.UpdatedAt)
	a.Params, a.Probe = params, probe
	return a, err
}

// NewAsset is what Create needs.
type NewAsset struct {
	UserID      uuid.UUID
	Filename    string
	ContentType string
	SizeBytes   int64
	Recipe      *job.Recipe
	Params      job.Params
	DailyQuota  int64
	Now         time.Time
}

// Create inserts a pending asset after checking the user's daily quota (the
// bytes accepted today, deleted uploads included: see accept); the check and
// the insert hold the user's row lock, so concurrent uploads cannot both slip
// under the quota. Over quota is RateLimited with the time left until the
// quota resets (midnight UTC).
func (s *Store) Create(ctx context.Context, n NewAsset) (Asset, error) {
	var a Asset
	err := s.db.WithTx(ctx, func(tx pgx.Tx) error {
		var one int
		if err := tx.QueryRow(ctx, `SELECT 1 FROM users WHERE id = $1 FOR UPDATE`, n.UserID).Scan(&one); err != nil {
			return fmt.Errorf("lock user: %w", err)
		}
		day := n.Now.UTC().Truncate(24 * time.Hour)
		if err := accept(ctx, tx, n.UserID, day, n.SizeBytes, n.DailyQuota); err != nil {
			return err
		}
		id := uuid.New()
		params, err := json.Marshal(n.Params)
		if err != nil {
			return fmt.Errorf("encode params: %w", err)
		}
		var recipe *string
		if n.Recipe != nil {
			r := string(*n.Recipe)
			recipe = &r
		}
		a, err = scan(tx.QueryRow(ctx, `
			INSERT INTO assets (id, user_id, filename, content_type, size_bytes, object_key, recipe, params)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING `+columns,
			id, n.UserID, n.Filename, n.ContentType, n.SizeBytes, storage.UploadKey(n.UserID, id, n.Filename), recipe, string(params)))
		if err != nil {
			return fmt.Errorf("insert asset: %w", err)
		}
		return nil
	})
	return a, err
}

// QuotaError is the daily upload quota being exceeded.
type QuotaError struct {
	Used, Quota int64
	Resets      time.Time
}

func (e *QuotaError) Error() string {
	return fmt.Sprintf("daily upload quota reached: %d of %d bytes used today; it resets at %s",
		e.Used, e.Quota, e.Resets.Format(time.RFC3339))
}

// AsAppError turns the quota error into the API's RateLimited error.
func (e *QuotaError) AsAppError() *apperr.Error {
	return apperr.Wrap(apperr.RateLimited, e, "%s", e.Error())
}

// SetUploadID records the multipart upload id of a pending asset.
func (s *Store) SetUploadID(ctx context.Context, id uuid.UUID, uploadID *string) error {
	if _, err := s.db.Exec(ctx, `UPDATE assets SET upload_id = $2, updated_at = now() WHERE id = $1`, id, uploadID); err != nil {
		return fmt.Errorf("set upload id: %w", err)
	}
	return nil
}

// Get returns the user's asset; another user's or a missing one is NotFound.
func (s *Store) Get(ctx context.Context, userID, id uuid.UUID) (Asset, error) {
	a, err := scan(s.db.QueryRow(ctx, `SELECT `+columns+` FROM assets WHERE id = $1 AND user_id = $2`, id, userID))
	if errors.Is(err, pgx.ErrNoRows) {
		return a, apperr.New(apperr.NotFound, "asset %s not found", id)
	}
	if err != nil {
		return a, fmt.Errorf("get asset: %w", err)
	}
	return a, nil
}

// GetByKey returns the asset stored under an object key (for ingest).
func (s *Store) GetByKey(ctx context.Context, q postgres.Querier, key string) (Asset, error) {
	a, err := scan(q.QueryRow(ctx, `SELECT `+columns+` FROM assets WHERE object_key = $1`, key))
	if errors.Is(err, pgx.ErrNoRows) {
		return a, apperr.New(apperr.NotFound, "no asset for object %s", key)
	}
	if err != nil {
		return a, fmt.Errorf("get asset by key: %w", err)
	}
	return a, nil
}

// List returns the user's assets, newest first, and the next page's cursor.
func (s *Store) List(ctx context.Context, userID uuid.UUID, limit int, cursor string) ([]Asset, string, error) {
	if limit == 0 {
		limit = 20
	}
	if limit < 1 || limit > 100 {
		return nil, "", apperr.InvalidField("limit", "limit must be from 1 to 100")
	}
	after, err := job.DecodeCursor(cursor)
	if err != nil {
		return nil, "", err
	}
	rows, err := s.db.Query(ctx, `
		SELECT `+columns+` FROM assets
		WHERE user_id = $1 AND ($2::timestamptz IS NULL OR (created_at, id) < ($2, $3))
		ORDER BY created_at DESC, id DESC LIMIT $4`, userID, after.At, after.ID, limit+1)
	if err != nil {
		return nil, "", fmt.Errorf("list assets: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Asset, error) { return scan(r) })
	if err != nil {
		return nil, "", fmt.Errorf("list assets: %w", err)
	}
	next := ""
	if len(out) > limit {
		out = out[:limit]
		last := out[len(out)-1]
		next = job.EncodeCursor(job.Cursor{At: &last.CreatedAt, ID: last.ID})
	}
	return out, next, nil
}

// Delete removes the user's asset row (its jobs, steps and outputs go with
// it; its active jobs end as canceled first, with their job_events) and
// returns the asset and the object key prefixes to remove.
func (s *Store) Delete(ctx context.Context, userID, id uuid.UUID, onlyPending bool) (Asset, []string, error) {
	var a Asset
	var prefixes []string
	err := s.db.WithTx(ctx, func(tx pgx.Tx) error {
		var err error
		a, err = scan(tx.QueryRow(ctx, `SELECT `+columns+` FROM assets WHERE id = $1 AND user_id = $2 FOR UPDATE`, id, userID))
		if errors.Is(err, pgx.ErrNoRows) {
			return apperr.New(apperr.NotFound, "asset %s not found", id)
		}
		if err != nil {
			return fmt.Errorf("lock asset: %w", err)
		}
		if onlyPending && a.Status != Pending {
			return apperr.New(apperr.Conflict, "upload %s is already complete (the asset is %s); delete the asset instead", id, a.Status)
		}
		rows, err := tx.Query(ctx, `SELECT id FROM jobs WHERE asset_id = $1`, id)
		if err != nil {
			return fmt.Errorf("list jobs of asset: %w", err)
		}
		jobs, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
		if err != nil {
			return fmt.Errorf("list jobs of asset: %w", err)
		}
		prefixes = append(prefixes, storage.UploadPrefix(userID, id))
		for _, j := range jobs {
			prefixes = append(prefixes, storage.JobPrefix(j))
		}
		if err := job.EndAssetJobsTx(ctx, tx, id); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM assets WHERE id = $1`, id); err != nil {
			return fmt.Errorf("delete asset: %w", err)
		}
		return nil
	})
	return a, prefixes, err
}

// Download is the object behind a download id: an asset or a job output.
type Download struct {
	ObjectKey string
	Filename  string
}

// FindDownload resolves id to the user's asset or job output.
func (s *Store) FindDownload(ctx context.Context, userID, id uuid.UUID) (Download, error) {
	var d Download
	var status Status
	err := s.db.QueryRow(ctx, `SELECT object_key, filename, status FROM assets WHERE id = $1 AND user_id = $2`, id, userID).
		Scan(&d.ObjectKey, &d.Filename, &status)
	if err == nil {
		if status != Ready {
			return d, apperr.New(apperr.Conflict, "asset %s is %s; only ready assets can be downloaded", id, status)
		}
		return d, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return d, fmt.Errorf("find asset download: %w", err)
	}
	err = s.db.QueryRow(ctx, `
		SELECT o.object_key, o.filename FROM outputs o JOIN jobs j ON j.id = o.job_id
		WHERE o.id = $1 AND j.user_id = $2`, id, userID).Scan(&d.ObjectKey, &d.Filename)
	if errors.Is(err, pgx.ErrNoRows) {
		return d, apperr.New(apperr.NotFound, "asset or output %s not found", id)
	}
	if err != nil {
		return d, fmt.Errorf("find output download: %w", err)
	}
	return d, nil
}

// StalePending lists pending uploads older than age, oldest first.
func (s *Store) StalePending(ctx context.Context, age time.Duration, limit int) ([]Asset, error) {
	rows, err := s.db.Query(ctx, `SELECT `+columns+` FROM assets
		WHERE status = 'pending' AND created_at < now() - make_interval(secs => $1) ORDER BY created_at LIMIT $2`, age.Seconds(), limit)
	if err != nil {
		return nil, fmt.Errorf("find stale uploads: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Asset, error) { return scan(r) })
	if err != nil {
		return nil, fmt.Errorf("find stale uploads: %w", err)
	}
	return list, nil
}

// DeletePending removes an asset that is still pending (a stale upload).
func (s *Store) DeletePending(ctx context.Context, id uuid.UUID) error {
	if _, err := s.db.Exec(ctx, `DELETE FROM assets WHERE id = $1 AND status = 'pending'`, id); err != nil {
		return fmt.Errorf("delete stale upload: %w", err)
	}
	return nil
}

// MarkReadyTx marks a pending asset ready with what ingest found: its kind
// (video or audio), its probe data and the key of the verified copy of its
// bytes, which every later step reads.
func (s *Store) MarkReadyTx(ctx context.Context, tx pgx.Tx, id uuid.UUID, kind string, probe []byte, verifiedKey string) error {
	if _, err := tx.Exec(ctx, `UPDATE assets SET status = 'ready', kind = $2, probe = $3, object_key = $4, upload_id = NULL, updated_at = now()
		WHERE id = $1 AND status = 'pending'`, id, kind, string(probe), verifiedKey); err != nil {
		return fmt.Errorf("mark asset ready: %w", err)
	}
	return nil
}

// Reject marks a pending asset rejected with a reason a person can read.
func (s *Store) Reject(ctx context.Context, id uuid.UUID, reason string) error {
	if _, err := s.db.Exec(ctx, `UPDATE assets SET status = 'rejected', reject_reason = $2, upload_id = NULL, updated_at = now()
		WHERE id = $1 AND status = 'pending'`, id, reason); err != nil {
		return fmt.Errorf("mark asset rejected: %w", err)
	}
	return nil
}
