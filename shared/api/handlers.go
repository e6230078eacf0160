package api

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"

	"github.com/google/uuid"

	"github.com/redub/redub/shared/apperr"
	"github.com/redub/redub/shared/asset"
	"github.com/redub/redub/shared/cost"
	"github.com/redub/redub/shared/httpapi"
	"github.com/redub/redub/shared/job"
	"github.com/redub/redub/shared/metric"
	"github.com/redub/redub/shared/obs"
)

// page is a list answer.
type page[T any] struct {
	Items      []T     `json:"items"`
	NextCursor *string `json:"next_cursor"`
}

func newPage[T any](items []T, next string) page[T] {
	if items == nil {
		items = []T{}
	}
	p := page[T]{Items: items}
	if next != "" {
		p.NextCursor = &next
	}
	return p
}

// CreateUpload is POST /uploads. A refusal of the upload itself (too
// large, over the quota, a type we do not take, a bad field) counts in the
// UploadsRejected metric by its error code; metrics may be nil.
func CreateUpload(svc *asset.Service, metrics *metric.Emitter) http.Handler {
	return userAction(func(w http.ResponseWriter, r *http.Request, u uuid.UUID) error {
		var req asset.UploadRequest
		if err := httpapi.Decode(w, r, &req, 16<<10); err != nil {
			return err
		}
		res, err := svc.Start(r.Context(), u, req)
		if err != nil {
			switch code := apperr.CodeOf(err); code {
			case apperr.Invalid, apperr.TooLarge, apperr.UnsupportedMedia, apperr.Unprocessable:
				_ = metrics.Emit([]metric.Dim{{Name: "reason", Value: string(code)}}, // a lost metric line never fails the request
					metric.Metric{Name: "UploadsRejected", Unit: metric.Count, Value: 1})
			}
			return err
		}
		httpapi.JSON(w, http.StatusCreated, res)
		return nil
	})
}

// CompleteUpload is POST /uploads/{id}/complete.
func CompleteUpload(svc *asset.Service) http.Handler {
	return idAction(func(ctx context.Context, w http.ResponseWriter, r *http.Request, u, id uuid.UUID) error {
		var req struct {
			Parts []asset.CompletePart `json:"parts"`
		}
		if err := httpapi.Decode(w, r, &req, 1<<20); err != nil {
			return err
		}
		a, err := svc.Complete(ctx, u, id, req.Parts)
		if err != nil {
			return err
		}
		httpapi.JSON(w, http.StatusOK, a)
		return nil
	})
}

// AbortUpload is DELETE /uploads/{id}.
func AbortUpload(svc *asset.Service) http.Handler {
	return idAction(func(ctx context.Context, w http.ResponseWriter, _ *http.Request, u, id uuid.UUID) error {
		if err := svc.Abort(ctx, u, id); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
}

// ListAssets is GET /assets.
func ListAssets(store *asset.Store) http.Handler {
	return userAction(func(w http.ResponseWriter, r *http.Request, u uuid.UUID) error {
		limit, err := queryInt(r, "limit")
		if err != nil {
			return err
		}
		items, next, err := store.List(r.Context(), u, limit, r.URL.Query().Get("cursor"))
		if err != nil {
			return err
		}
		httpapi.JSON(w, http.StatusOK, newPage(items, next))
		return nil
	})
}

// GetAsset is GET /assets/{id}.
func GetAsset(store *asset.Store) http.Handler {
	return idAction(func(ctx context.Context, w http.ResponseWriter, _ *http.Request, u, id uuid.UUID) error {
		a, err := store.Get(ctx, u, id)
		if err != nil {
			return err
		}
		httpapi.JSON(w, http.StatusOK, a)
		return nil
	})
}

// DeleteAsset is DELETE /assets/{id}.
func DeleteAsset(svc *asset.Service) http.Handler {
	return idAction(func(ctx context.Context, w http.ResponseWriter, _ *http.Request, u, id uuid.UUID) error {
		if err := svc.Delete(ctx, u, id); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
}

// Download is GET /assets/{id}/download: a presigned GET for an asset or a job output.
func Download(svc *asset.Service) http.Handler {
	return idAction(func(ctx context.Context, w http.ResponseWriter, _ *http.Request, u, id uuid.UUID) error {
		p, err := svc.DownloadURL(ctx, u, id)
		if err != nil {
			return err
		}
		w.Header().Set("Cache-Control", "no-store")
		httpapi.JSON(w, http.StatusOK, map[string]any{"method": "GET", "url": p.URL, "expires_at": p.ExpiresAt})
		return nil
	})
}

// JobRequest is the body of POST /jobs.
type JobRequest struct {
	AssetID string          `json:"asset_id"`
	Recipe  string          `json:"recipe"`
	Params  json.RawMessage `json:"params,omitempty"`
}

// CreateJob is POST /jobs. The Idempotency-Key header is required: the same
// key and body give the same job (200), a new job answers 201, the same key
// with another body 422, a new job over caps 409.
func CreateJob(store *job.Store, q job.Enqueuer, caps job.Caps, log *slog.Logger) http.Handler {
	return userAction(func(w http.ResponseWriter, r *http.Request, u uuid.UUID) error {
		key := strings.TrimSpace(r.Header.Get("Idempotency-Key"))
		if key == "" || len(key) > 255 {
			return apperr.InvalidField("Idempotency-Key", "the Idempotency-Key header is required (1-255 characters, e.g. a UUID)")
		}
		var req JobRequest
		if err := httpapi.Decode(w, r, &req, 16<<10); err != nil {
			return err
		}
		n, err := newJob(req)
		if err != nil {
			return err
		}
		n.UserID, n.IdempotencyKey, n.RequireReady, n.Caps = u, key, true, caps
		n.TraceID = obs.Fields(r.Context())[obs.TraceID]
		canonical, _ := json.Marshal(struct {
			A string     `json:"a"`
			R job.Recipe `json:"r"`
			P job.Params `json:"p"`
		}{n.AssetID.String(), n.Recipe, n.Params})
		sum := sha256.Sum256(canonical)
		n.RequestHash = sum[:]
		j, created, err := store.Create(r.Context(), n)
		if err != nil {
			return err
		}
		status := http.StatusOK
		if created {
			status = http.StatusCreated
			if err := store.EnqueueFirst(r.Context(), q, j); err != nil {
				// The job exists and the sweeper will send its first step.
				log.WarnContext(r.Context(), "enqueue first step failed; the sweeper will retry", "job_id", j.ID.String(), "error", err.Error())
			}
		}
		w.Header().Set("Location", "/jobs/"+j.ID.String())
		httpapi.JSON(w, status, j)
		return nil
	})
}

func newJob(req JobRequest) (job.NewJob, error) {
	var n job.NewJob
	id, err := parseUUID(req.AssetID, "asset_id")
	if err != nil {
		return n, err
	}
	r, err := job.ParseRecipe(req.Recipe)
	if err != nil {
		return n, err
	}
	p, err := job.ParseParams(r, req.Params)
	if err != nil {
		return n, err
	}
	return job.NewJob{AssetID: id, Recipe: r, Params: p}, nil
}

// Costs prices jobs from the usage they recorded.
type Costs interface {
	Usages(ctx context.Context, jobID uuid.UUID) ([]cost.Usage, error)
	Totals(ctx context.Context, jobIDs []uuid.UUID) (map[uuid.UUID][]cost.Usage, error)
}

// jobWithCost is a job as GET /jobs/{id} answers it.
type jobWithCost struct {
	job.Job
	Cost cost.Breakdown `json:"cost"`
}

// listedJob is a job as GET /jobs lists it: its total cost only.
type listedJob struct {
	job.Job
	Cost struct {
		TotalUSD float64 `json:"total_usd"`
	} `json:"cost"`
}

// ListJobs is GET /jobs.
func ListJobs(store *job.Store, costs Costs, prices cost.Prices) http.Handler {
	return userAction(func(w http.ResponseWriter, r *http.Request, u uuid.UUID) error {
		limit, err := queryInt(r, "limit")
		if err != nil {
			return err
		}
		q := r.URL.Query()
		items, next, err := store.List(r.Context(), u, job.ListOptions{Status: job.Status(q.Get("status")), Limit: limit, Cursor: q.Get("cursor")})
		if err != nil {
			return err
		}
		ids := make([]uuid.UUID, len(items))
		for i := range items {
			ids[i] = items[i].ID
		}
		totals, err := costs.Totals(r.Context(), ids)
		if err != nil {
			return err
		}
		out := make([]listedJob, len(items))
		for i := range items {
			items[i].Steps, items[i].Outputs = []job.Step{}, []job.Output{}
			out[i].Job = items[i]
			out[i].Cost.TotalUSD = cost.Estimate(prices, totals[items[i].ID]).TotalUSD
		}
		httpapi.JSON(w, http.StatusOK, newPage(out, next))
		return nil
	})
}

// GetJob is GET /jobs/{id}.
func GetJob(store *job.Store, costs Costs, prices cost.Prices) http.Handler {
	return idAction(func(ctx context.Context, w http.ResponseWriter, _ *http.Request, u, id uuid.UUID) error {
		j, err := store.Get(ctx, u, id)
		if err != nil {
			return err
		}
		us, err := costs.Usages(ctx, j.ID)
		if err != nil {
			return err
		}
		httpapi.JSON(w, http.StatusOK, jobWithCost{Job: j, Cost: cost.Estimate(prices, us)})
		return nil
	})
}

// CancelJob is POST /jobs/{id}/cancel.
func CancelJob(store *job.Store) http.Handler {
	return idAction(func(ctx context.Context, w http.ResponseWriter, _ *http.Request, u, id uuid.UUID) error {
		j, err := store.Cancel(ctx, u, id)
		if err != nil {
			return err
		}
		httpapi.JSON(w, http.StatusOK, j)
		return nil
	})
}

// userAction handles a signed-in route: fn gets the caller's id, and its
// error becomes the problem answer.
func userAction(fn func(w http.ResponseWriter, r *http.Request, user uuid.UUID) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, err := caller(r)
		if err == nil {
			err = fn(w, r, u.ID)
		}
		if err != nil {
			httpapi.Error(w, r, err)
		}
	})
}

// idAction handles a route on one of the caller's resources by {id}.
func idAction(fn func(ctx context.Context, w http.ResponseWriter, r *http.Request, user, id uuid.UUID) error) http.Handler {
	return userAction(func(w http.ResponseWriter, r *http.Request, u uuid.UUID) error {
		id, err := pathID(r)
		if err != nil {
			return err
		}
		return fn(r.Context(), w, r, u, id)
	})
}

func parseUUID(s, field string) (uuid.UUID, error) {
	id, err := uuid.Parse(s)
	if err != nil || len(s) != 36 {
		return uuid.Nil, apperr.InvalidField(field, "%s must be a UUID", field)
	}
	return id, nil
}
