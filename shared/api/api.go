// Package api is the HTTP API's wiring and handlers: each route's function
// builds a Deps at cold start, wraps its handler with the middleware the
// route needs (per-IP limits on auth routes; session, Origin check and
// per-user limits elsewhere), and the handlers decode, call the asset or job
// service, and encode. Dependencies are built on first use, so a function
// links and initialises only what its route touches.
package api

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/redub/redub/shared/apperr"
	"github.com/redub/redub/shared/asset"
	"github.com/redub/redub/shared/auth"
	"github.com/redub/redub/shared/cost"
	"github.com/redub/redub/shared/job"
	"github.com/redub/redub/shared/lambdarun"
	"github.com/redub/redub/shared/postgres"
	"github.com/redub/redub/shared/queue"
	"github.com/redub/redub/shared/ratelimit"
	"github.com/redub/redub/shared/storage"
)

// Deps are the API's shared dependencies.
type Deps struct {
	App      *lambdarun.App
	DB       *postgres.DB
	Sessions *auth.Sessions
	Users    *auth.Users
	Limiter  *ratelimit.Limiter
}

// New builds the dependencies every API function needs (no I/O).
func New(app *lambdarun.App) (*Deps, error) {
	db, err := app.DB()
	if err != nil {
		return nil, err
	}
	sessions, err := auth.NewSessions(db, auth.OptionsFrom(app.Config))
	if err != nil {
		return nil, err
	}
	return &Deps{App: app, DB: db, Sessions: sessions, Users: auth.NewUsers(db), Limiter: ratelimit.New(db, nil)}, nil
}

// AuthRoute wraps an auth route: per-IP rate limit (RATE_LIMIT_AUTH_PER_MINUTE).
func (d *Deps) AuthRoute(h http.Handler) http.Handler {
	limit := ratelimit.Middleware(d.Limiter, "auth:ip", d.App.Config.Limits.AuthPerMinute, time.Minute, ratelimit.ClientIP, d.App.Log)
	return limit(h)
}

// UserRoute wraps a signed-in route: the session (cookie or bearer, with the
// Origin check for cookie-authenticated writes), then the per-user limit
// (RATE_LIMIT_API_PER_MINUTE).
func (d *Deps) UserRoute(h http.Handler) http.Handler {
	limit := ratelimit.Middleware(d.Limiter, "api:user", d.App.Config.Limits.APIPerMinute, time.Minute, func(r *http.Request) string {
		if u, ok := auth.UserFrom(r.Context()); ok {
			return u.ID.String()
		}
		return ""
	}, d.App.Log)
	return d.Sessions.Require(limit(h))
}

// Assets builds the asset service (S3 client included).
func (d *Deps) Assets(ctx context.Context) (*asset.Service, error) {
	awsCfg, err := d.App.AWS(ctx)
	if err != nil {
		return nil, err
	}
	objects := storage.New(storage.NewClient(awsCfg, d.App.Getenv), d.App.Config.StorageBucket, storage.Options{})
	return &asset.Service{Store: asset.NewStore(d.DB), Objects: objects,
		MaxBytes: d.App.Config.Limits.UploadMaxBytes, DailyQuota: d.App.Config.Limits.UploadDailyQuotaBytes,
		Jobs: d.Jobs(), MaxActiveJobs: d.App.Config.Limits.ActiveJobsPerUser}, nil
}

// Queue builds the step queue sender.
func (d *Deps) Queue(ctx context.Context) (*queue.Sender, error) {
	awsCfg, err := d.App.AWS(ctx)
	if err != nil {
		return nil, err
	}
	return queue.NewSender(queue.NewClient(awsCfg, d.App.Getenv), d.App.Config.Queues.All()), nil
}

// Costs builds the cost store and the price table (PRICES_JSON over the
// built-in one).
func (d *Deps) Costs() (*cost.Store, cost.Prices, error) {
	p, err := cost.Load(d.App.Config.Cost.PricesJSON)
	if err != nil {
		return nil, cost.Prices{}, err
	}
	return cost.NewStore(d.DB), p, nil
}

// Jobs builds the job store.
func (d *Deps) Jobs() *job.Store { return job.NewStore(d.DB) }

// JobCaps are the caps on active jobs (MAX_ACTIVE_JOBS_PER_USER,
// MAX_ACTIVE_JOBS_PER_ASSET).
func (d *Deps) JobCaps() job.Caps {
	return job.Caps{PerUser: d.App.Config.Limits.ActiveJobsPerUser, PerAsset: d.App.Config.Limits.ActiveJobsPerAsset}
}

// pathID reads the {id} path parameter; a malformed id is a 400 problem.
func pathID(r *http.Request) (uuid.UUID, error) {
	raw := r.PathValue("id")
	id, err := uuid.Parse(raw)
	if err != nil || len(raw) != 36 {
		return uuid.Nil, apperr.InvalidField("id", "id must be a UUID like 0b5c6a1e-8f0e-4c1e-9a55-3f2d8d1e7b42")
	}
	return id, nil
}

// caller returns the signed-in user; routes behind UserRoute always have one.
func caller(r *http.Request) (auth.User, error) {
	u, ok := auth.UserFrom(r.Context())
	if !ok {
		return u, apperr.New(apperr.Unauthenticated, "sign in first")
	}
	return u, nil
}

// queryInt reads an optional integer query parameter.
func queryInt(r *http.Request, name string) (int, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return 0, nil
	}
	var n int
	if _, err := fmt.Sscanf(v, "%d", &n); err != nil || fmt.Sprint(n) != v {
		return 0, apperr.InvalidField(name, "%s must be a whole number", name)
	}
	return n, nil
}
