// Command health-ready is GET /health/ready: the database through the pooler,
// the bucket and every configured queue answer, or 503 naming what does not.
package main

import (
	"context"
	"sort"
	"time"

	"github.com/redub/redub/shared/queue"

	"github.com/redub/redub/shared/health"
	"github.com/redub/redub/shared/lambdarun"
	"github.com/redub/redub/shared/storage"
)

func main() {
	lambdarun.Main("health-ready", setup)
}

func setup(ctx context.Context, app *lambdarun.App) (any, error) {
	db, err := app.DB()
	if err != nil {
		return nil, err
	}
	awsCfg, err := app.AWS(ctx)
	if err != nil {
		return nil, err
	}
	checks := []health.Check{
		health.Database(db),
		health.Bucket(storage.NewClient(awsCfg, app.Getenv), app.Config.StorageBucket),
	}
	queues := app.Config.Queues.All()
	names := make([]string, 0, len(queues))
	for n := range queues {
		names = append(names, n)
	}
	sort.Strings(names)
	sqsClient := queue.NewClient(awsCfg, app.Getenv)
	for _, n := range names {
		checks = append(checks, health.Queue(sqsClient, n, queues[n]))
	}
	return lambdarun.HTTP(app, health.Ready(checks, 3*time.Second, app.Log)), nil
}
