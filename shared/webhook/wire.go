package webhook

import (
	"context"

	"github.com/redub/redub/shared/config"
	"github.com/redub/redub/shared/lambdarun"
	"github.com/redub/redub/shared/queue"
)

// NewDeliverer builds the delivery function's Deliverer from its config.
func NewDeliverer(ctx context.Context, app *lambdarun.App) (*Deliverer, error) {
	db, err := app.DB()
	if err != nil {
		return nil, err
	}
	awsCfg, err := app.AWS(ctx)
	if err != nil {
		return nil, err
	}
	return &Deliverer{
		Store:   NewStore(db),
		Queue:   Queue{Client: queue.NewClient(awsCfg, app.Getenv), URL: app.Config.Queues.Webhook},
		Client:  NewClient(Policy{Development: app.Config.Stage == config.Development}),
		Retries: app.Config.Webhooks.Retries,
		Log:     app.Log,
	}, nil
}
