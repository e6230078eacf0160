// Command webhooks-delete is DELETE /webhooks/{id}: removes an endpoint and its delivery log.
package main

import (
	"context"

	"github.com/redub/redub/shared/api"
	"github.com/redub/redub/shared/lambdarun"
)

func main() {
	lambdarun.Main("webhooks-delete", setup)
}

func setup(_ context.Context, app *lambdarun.App) (any, error) {
	d, err := api.New(app)
	if err != nil {
		return nil, err
	}
	return lambdarun.HTTP(app, d.UserRoute(api.DeleteWebhook(d.Webhooks()))), nil
}
