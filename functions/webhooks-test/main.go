// Command webhooks-test is POST /webhooks/{id}/test: queues a signed webhook.test delivery to the endpoint.
package main

import (
	"context"

	"github.com/redub/redub/shared/api"
	"github.com/redub/redub/shared/lambdarun"
)

func main() {
	lambdarun.Main("webhooks-test", setup)
}

func setup(ctx context.Context, app *lambdarun.App) (any, error) {
	d, err := api.New(app)
	if err != nil {
		return nil, err
	}
	q, err := d.WebhookQueue(ctx)
	if err != nil {
		return nil, err
	}
	return lambdarun.HTTP(app, d.UserRoute(api.TestWebhook(d.Webhooks(), q))), nil
}
