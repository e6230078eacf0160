package ingest

import (
	"context"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/redub/redub/shared/asset"
	"github.com/redub/redub/shared/job"
	"github.com/redub/redub/shared/lambdarun"
	"github.com/redub/redub/shared/media"
	"github.com/redub/redub/shared/queue"
	"github.com/redub/redub/shared/storage"
)

// New builds ingest from the function's config.
func New(ctx context.Context, app *lambdarun.App) (*Ingest, error) {
	db, err := app.DB()
	if err != nil {
		return nil, err
	}
	awsCfg, err := app.AWS(ctx)
	if err != nil {
		return nil, err
	}
	runner, err := media.NewRunner(app.Getenv)
	if err != nil {
		return nil, err
	}
	return &Ingest{
		DB: db, Assets: asset.NewStore(db), Jobs: job.NewStore(db),
		Objects: storage.New(storage.NewClient(awsCfg, app.Getenv), app.Config.StorageBucket, storage.Options{}),
		Media:   runner, Limits: media.Limits{MaxDuration: app.Config.Limits.MediaMaxDuration},
		Queue: queue.NewSender(queue.NewClient(awsCfg, app.Getenv), app.Config.Queues.All()), Log: app.Log,
		Metrics: app.Metrics,
	}, nil
}

// RecordBudget is the most one upload's verification may take (download,
// probe, pin). A batch starts a record only while its invocation has that
// much left; the others go back to the queue for another invocation, so a
// slow probe never fails other users' uploads by timing the batch out.
const RecordBudget = 2 * time.Minute

// Handler is the ingest function's SQS handler.
func (in *Ingest) Handler(app *lambdarun.App) lambdarun.SQSHandler {
	return lambdarun.SQSWithBudget(app, RecordBudget, func(ctx context.Context, msg events.SQSMessage) error {
		return in.HandleMessage(ctx, msg.Body)
	})
}
