package ratelimit_test

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/redub/redub/shared/postgres"
	"github.com/redub/redub/shared/ratelimit"
)

// A function guards its routes with a tight limit per caller IP. The buckets
// are "auth:ip:<address>".
func ExampleMiddleware() {
	var (
		db     *postgres.DB // from lambdarun's App at cold start
		log    *slog.Logger
		routes http.Handler
	)
	limiter := ratelimit.New(db, time.Now)
	perIP := ratelimit.Middleware(limiter, "auth:ip", 10, time.Minute, ratelimit.ClientIP, log)
	_ = perIP(routes) // the handler to give lambdarun.HTTP
}
