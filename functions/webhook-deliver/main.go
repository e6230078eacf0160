// Command webhook-deliver reads the webhook queue: one signed attempt per
// message; a failed one is tried again after the next wait of
// WEBHOOK_RETRY_SECONDS, and the endpoint is disabled once the last failed.
package main

import (
	"context"
	"time"

	"github.com/redub/redub/shared/lambdarun"
	"github.com/redub/redub/shared/webhook"
)

func main() {
	lambdarun.Main("webhook-deliver", setup)
}

func setup(ctx context.Context, app *lambdarun.App) (any, error) {
	d, err := webhook.NewDeliverer(ctx, app)
	if err != nil {
		return nil, err
	}
	return lambdarun.SQSWithBudget(app, webhook.Timeout+5*time.Second, d.Handle), nil
}
