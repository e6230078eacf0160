// Package ingest verifies uploads, fed the bucket's ObjectCreated events
// through the ingest queue: the object must belong to a pending asset, have
// the declared size and be real media (ffprobe, with the demuxer forced from
// the declared type). A verified asset becomes ready and starts the job named
// at upload; a refused one is rejected with a reason and its bytes removed.
package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"

	"github.com/aws/aws-lambda-go/events"
	"github.com/jackc/pgx/v5"

	"github.com/redub/redub/shared/apperr"
	"github.com/redub/redub/shared/asset"
	"github.com/redub/redub/shared/job"
	"github.com/redub/redub/shared/media"
	"github.com/redub/redub/shared/metric"
	"github.com/redub/redub/shared/obs"
	"github.com/redub/redub/shared/postgres"
	"github.com/redub/redub/shared/storage"
)

// Objects is the part of storage ingest uses.
type Objects interface {
	Get(ctx context.Context, key string) (io.ReadCloser, storage.Object, error)
	Head(ctx context.Context, key string) (storage.Object, error)
	Copy(ctx context.Context, src, dst string, size int64, etag string) error
	Delete(ctx context.Context, keys ...string) error
}

// Ingest verifies uploads.
type Ingest struct {
	DB      *postgres.DB
	Assets  *asset.Store
	Jobs    *job.Store
	Objects Objects
	Media   *media.Runner
	Limits  media.Limits
	Queue   job.Enqueuer
	Log     *slog.Logger
	Metrics *metric.Emitter // uploads rejected, by reason; nil: none
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
		k, err := url.QueryUnescape(rec.S3.Object.Key) // S3 form-encodes event keys ('+' is a space)
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
		return in.reject(ctx, a, "key_mismatch", "the object's key does not belong to this asset")
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
		return in.reject(ctx, a, "size_mismatch", fmt.Sprintf("the upload is %d bytes but %d were declared", obj.Size, a.SizeBytes))
	}
	dir, err := os.MkdirTemp("", "redub-ingest-")
	if err != nil {
		return fmt.Errorf("scratch dir: %w", err)
	}
	defer os.RemoveAll(dir)
	path, got, err := in.download(ctx, key, dir)
	if err != nil {
		return err
	}
	info, err := in.Media.Probe(ctx, path, a.ContentType, in.Limits)
	var rej *media.RejectError
	if errors.As(err, &rej) {
		return in.reject(ctx, a, "media_refused", rej.Reason)
	}
	if err != nil {
		return fmt.Errorf("probe %s: %w", key, err)
	}
	// Pin what was verified: a copy of exactly these bytes (their ETag) at a
	// key no upload URL is signed for. Every later step and download reads
	// the copy, so a PUT to the upload URL after this changes nothing.
	pinned := storage.VerifiedKey(a.UserID, a.ID, a.Filename)
	if err := in.Objects.Copy(ctx, key, pinned, got.Size, got.ETag); err != nil {
		return fmt.Errorf("pin verified upload: %w", err)
	}
	if err := in.accept(ctx, a, info, pinned); err != nil {
		return err
	}
	// The upload itself is no longer needed; bytes put there later have no
	// asset and are removed when their event comes.
	if err := in.Objects.Delete(ctx, key); err != nil {
		in.Log.WarnContext(ctx, "remove the upload after pinning it failed", "error", err.Error())
	}
	return nil
}

// accept marks the asset ready with its probe data and creates its job in
// the same transaction; the job's first step is sent after the commit.
func (in *Ingest) accept(ctx context.Context, a asset.Asset, info media.Info, pinned string) error {
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
		if err := in.Assets.MarkReadyTx(ctx, tx, a.ID, kind, probe, pinned); err != nil {
			return err
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
		IdempotencyKey: job.UploadKey(a.ID), RequestHash: []byte("upload")}
}

// startJob re-sends the upload's job when its first step was never sent.
func (in *Ingest) startJob(ctx context.Context, a asset.Asset) error {
	if a.Status != asset.Ready {
		return nil
	}
	d, err := in.Jobs.FirstUnsent(ctx, a.UserID, a.ID)
	if err != nil || d == nil {
		return err
	}
	return in.Jobs.Send(ctx, in.Queue, *d)
}

// reject marks the asset rejected with a reason a person can read and
// removes its object: untrusted bytes are not kept. kind is the reason's
// class, a metric dimension of a few values.
func (in *Ingest) reject(ctx context.Context, a asset.Asset, kind, reason string) error {
	if err := in.Assets.Reject(ctx, a.ID, reason); err != nil {
		return err
	}
	in.Log.WarnContext(ctx, "upload rejected", "reason", reason, "kind", kind)
	if err := in.Metrics.Emit([]metric.Dim{{Name: "reason", Value: kind}}, metric.Metric{Name: "UploadsRejected", Unit: metric.Count, Value: 1}); err != nil {
		in.Log.WarnContext(ctx, "metrics: write failed", "error", err.Error())
	}
	if err := in.Objects.Delete(ctx, a.ObjectKey); err != nil {
		return fmt.Errorf("remove rejected object: %w", err)
	}
	return nil
}

// download copies the object at key into dir and describes what it read.
func (in *Ingest) download(ctx context.Context, key, dir string) (string, storage.Object, error) {
	body, obj, err := in.Objects.Get(ctx, key)
	if err != nil {
		return "", obj, fmt.Errorf("download %s: %w", key, err)
	}
	defer body.Close()
	path := filepath.Join(dir, "source")
	f, err := os.Create(path)
	if err != nil {
		return "", obj, fmt.Errorf("download %s: %w", key, err)
	}
	if _, err := io.Copy(f, body); err != nil {
		f.Close()
		return "", obj, fmt.Errorf("download %s: %w", key, err)
	}
	if err := f.Close(); err != nil {
		return "", obj, fmt.Errorf("download %s: %w", key, err)
	}
	return path, obj, nil
}
