// Command webhooks-create is POST /webhooks: registers an endpoint (idempotent on the Idempotency-Key header) and shows its signing secret once.
package main

import (
	"context"

	"github.com/redub/redub/shared/api"
	"github.com/redub/redub/shared/lambdarun"
)

func main() {
	lambdarun.Main("webhooks-create", setup)
}

func setup(_ context.Context, app *lambdarun.App) (any, error) {
	d, err := api.New(app)
	if err != nil {
		return nil, err
	}
	return lambdarun.HTTP(app, d.UserRoute(api.CreateWebhook(d.Webhooks(), d.WebhookPolicy()))), nil
}
