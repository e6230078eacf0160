package sweep

import (
	"context"
	"time"

	"github.com/redub/redub/shared/asset"
	"github.com/redub/redub/shared/auth"
	"github.com/redub/redub/shared/cost"
	"github.com/redub/redub/shared/job"
	"github.com/redub/redub/shared/lambdarun"
	"github.com/redub/redub/shared/queue"
	"github.com/redub/redub/shared/ratelimit"
	"github.com/redub/redub/shared/storage"
	"github.com/redub/redub/shared/webhook"
)

// New builds the sweeper from the function's config; the dead-letter queues
// come from DEAD_LETTER_QUEUE_URLS.
func New(ctx context.Context, app *lambdarun.App) (*Sweeper, error) {
	db, err := app.DB()
	if err != nil {
		return nil, err
	}
	awsCfg, err := app.AWS(ctx)
	if err != nil {
		return nil, err
	}
	sqsClient := queue.NewClient(awsCfg, app.Getenv)
	limiter := ratelimit.New(db, nil)
	assets, jobs := asset.NewStore(db), job.NewStore(db)
	var hooks func(ctx context.Context) (int, error)
	if u := app.Config.Queues.Webhook; u != "" {
		store, q := webhook.NewStore(db), webhook.Queue{Client: sqsClient, URL: u}
		hooks = func(ctx context.Context) (int, error) { return store.Dispatch(ctx, jobs, q, batch) }
	}
	prices, err := cost.Load(app.Config.Cost.PricesJSON)
	if err != nil {
		return nil, err
	}
	ends := &cost.Ends{Events: jobs, Usages: cost.NewStore(db), Prices: prices, Metrics: app.Metrics, Settle: cost.DefaultSettle, Log: app.Log}
	return &Sweeper{
		Jobs: jobs, Assets: assets,
		Queue: queue.NewSender(sqsClient, app.Config.Queues.All()), DeadLetters: sqsClient, DLQURLs: app.Config.Pipeline.DeadLetterQueueURLs,
		Uploads: storage.New(storage.NewClient(awsCfg, app.Getenv), app.Config.StorageBucket, storage.Options{}),
		Log:     app.Log, Lease: app.Config.Pipeline.StepLease,
		Cleanup: func(ctx context.Context) error {
			if _, err := limiter.Cleanup(ctx); err != nil {
				return err
			}
			// Only today's upload counter is read; a week is kept for support.
			if _, err := assets.PruneUsage(ctx, time.Now().AddDate(0, 0, -7)); err != nil {
				return err
			}
			if _, err := jobs.PruneEvents(ctx); err != nil {
				return err
			}
			return auth.PurgeSessions(ctx, db)
		},
		Webhooks:   hooks,
		JobMetrics: ends.Write,
	}, nil
}
