package steps

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/events"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/redub/redub/shared/apperr"
	"github.com/redub/redub/shared/asset"
	"github.com/redub/redub/shared/job"
	"github.com/redub/redub/shared/media"
	"github.com/redub/redub/shared/obs"
	"github.com/redub/redub/shared/storage"
)

// Ingest verifies uploads: it is fed the bucket's ObjectCreated events.
type Ingest struct {
	*Deps
	Assets *asset.Store
	Queue  job.Enqueuer
}

// HandleMessage processes one SQS message holding an S3 event. A nil error
// means the message is done (verified, rejected or irrelevant).
func (in *Ingest) HandleMessage(ctx context.Context, body string) error {
	var ev events.S3Event
	if err := json.Unmarshal([]byte(body), &ev); err != nil {
		in.Log.ErrorContext(ctx, "dropping a message that is not an S3 event", "error", err.Error())
		return nil
	}
	var errs []error
	for _, rec := range ev.Records {
		if err := in.Record(ctx, rec); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Record verifies the object of one S3 event record.
func (in *Ingest) Record(ctx context.Context, rec events.S3EventRecord) error {
	key := rec.S3.Object.URLDecodedKey
	if key == "" {
		k, err := decodeKey(rec.S3.Object.Key)
		if err != nil {
			in.Log.WarnContext(ctx, "dropping an event with a malformed key", "key", rec.S3.Object.Key)
			return nil
		}
		key = k
	}
	user, assetID, err := storage.ParseUploadKey(key)
	if err != nil {
		in.Log.InfoContext(ctx, "ignoring an object outside uploads/<user>/<asset>/", "key", key)
		return nil
	}
	ctx = obs.With(ctx, "asset_id", assetID.String())
	a, err := in.Assets.GetByKey(ctx, in.DB, key)
	if apperr.CodeOf(err) == apperr.NotFound {
		// The upload was aborted or the asset deleted: the bytes have no owner.
		in.Log.WarnContext(ctx, "removing an object no asset claims", "key", key)
		return in.Objects.Delete(ctx, key)
	}
	if err != nil {
		return err
	}
	if a.ID != assetID || a.UserID != user {
		return in.reject(ctx, a, "the object's key does not belong to this asset")
	}
	if a.Status != asset.Pending {
		// A repeated event: make sure the job it started was sent.
		return in.startJob(ctx, a)
	}
	obj, err := in.Objects.Head(ctx, key)
	if apperr.CodeOf(err) == apperr.NotFound {
		in.Log.WarnContext(ctx, "the object is gone; nothing to verify", "key", key)
		return nil
	}
	if err != nil {
		return err
	}
	if obj.Size != a.SizeBytes {
		return in.reject(ctx, a, fmt.Sprintf("the upload is %d bytes but %d were declared", obj.Size, a.SizeBytes))
	}
	dir, err := os.MkdirTemp("", "redub-ingest-")
	if err != nil {
		return fmt.Errorf("scratch dir: %w", err)
	}
	defer os.RemoveAll(dir)
	path, err := in.download(ctx, key, dir, "source")
	if err != nil {
		return err
	}
	info, err := in.Media.Probe(ctx, path, a.ContentType, in.Limits)
	var rej *media.RejectError
	if errors.As(err, &rej) {
		return in.reject(ctx, a, rej.Reason)
	}
	if err != nil {
		return fmt.Errorf("probe %s: %w", key, err)
	}
	return in.accept(ctx, a, info)
}

// accept marks the asset ready with its probe data and creates its job in
// the same transaction; the job's first step is sent after the commit.
func (in *Ingest) accept(ctx context.Context, a asset.Asset, info media.Info) error {
	probe, err := json.Marshal(info)
	if err != nil {
		return fmt.Errorf("encode probe: %w", err)
	}
	kind := "audio"
	if info.Video != nil {
		kind = "video"
	}
	var j job.Job
	created := false
	err = in.DB.WithTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE assets SET status = 'ready', kind = $2, probe = $3, upload_id = NULL, updated_at = now()
			WHERE id = $1 AND status = 'pending'`, a.ID, kind, string(probe)); err != nil {
			return fmt.Errorf("mark asset ready: %w", err)
		}
		var err error
		j, created, err = in.Jobs.CreateTx(ctx, tx, uploadJob(a))
		return err
	})
	if err != nil {
		return err
	}
	in.Log.InfoContext(ctx, "asset ready", "kind", kind, "duration_s", info.Duration.Seconds(), "job_id", j.ID.String(), "recipe", string(j.Recipe))
	if created {
		return in.Jobs.EnqueueFirst(ctx, in.Queue, j)
	}
	return nil
}

// uploadJob is the job an upload starts: the recipe named at upload, or transcode.
func uploadJob(a asset.Asset) job.NewJob {
	recipe := job.Transcode
	if a.Recipe != nil {
		recipe = job.Recipe(*a.Recipe)
	}
	var params job.Params
	_ = json.Unmarshal(a.Params, &params)
	return job.NewJob{UserID: a.UserID, AssetID: a.ID, Recipe: recipe, Params: params,
		IdempotencyKey: "upload:" + a.ID.String(), RequestHash: []byte("upload")}
}

// startJob re-sends the upload's job when its first step was never sent.
func (in *Ingest) startJob(ctx context.Context, a asset.Asset) error {
	if a.Status != asset.Ready {
		return nil
	}
	var id uuid.UUID
	err := in.DB.QueryRow(ctx, `SELECT id FROM jobs WHERE user_id = $1 AND idempotency_key = $2`, a.UserID, "upload:"+a.ID.String()).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("find upload job: %w", err)
	}
	j, err := in.Jobs.Get(ctx, a.UserID, id)
	if err != nil {
		return err
	}
	for _, s := range j.Steps {
		if s.Status == job.Queued && s.Position == 1 {
			var sent bool
			if err := in.DB.QueryRow(ctx, `SELECT enqueued_at IS NOT NULL FROM job_steps WHERE job_id = $1 AND step = $2`, j.ID, s.Name).Scan(&sent); err != nil {
				return fmt.Errorf("check first step: %w", err)
			}
			if !sent {
				return in.Jobs.EnqueueFirst(ctx, in.Queue, j)
			}
		}
	}
	return nil
}

// reject marks the asset rejected with a reason a person can read and
// removes its object: untrusted bytes are not kept.
func (in *Ingest) reject(ctx context.Context, a asset.Asset, reason string) error {
	if _, err := in.DB.Exec(ctx, `UPDATE assets SET status = 'rejected', reject_reason = $2, upload_id = NULL, updated_at = now()
		WHERE id = $1 AND status = 'pending'`, a.ID, reason); err != nil {
		return fmt.Errorf("mark asset rejected: %w", err)
	}
	in.Log.WarnContext(ctx, "upload rejected", "reason", reason)
	if err := in.Objects.Delete(ctx, a.ObjectKey); err != nil {
		return fmt.Errorf("remove rejected object: %w", err)
	}
	return nil
}
