// Command webhooks-list is GET /webhooks: the caller's endpoints.
package main

import (
	"context"

	"github.com/redub/redub/shared/api"
	"github.com/redub/redub/shared/lambdarun"
)

func main() {
	lambdarun.Main("webhooks-list", setup)
}

func setup(_ context.Context, app *lambdarun.App) (any, error) {
	d, err := api.New(app)
	if err != nil {
		return nil, err
	}
	return lambdarun.HTTP(app, d.UserRoute(api.ListWebhooks(d.Webhooks()))), nil
}
