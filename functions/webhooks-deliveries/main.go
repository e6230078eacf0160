// Command webhooks-deliveries is GET /webhooks/{id}/deliveries: the endpoint's delivery log, newest first.
package main

import (
	"context"

	"github.com/redub/redub/shared/api"
	"github.com/redub/redub/shared/lambdarun"
)

func main() {
	lambdarun.Main("webhooks-deliveries", setup)
}

func setup(_ context.Context, app *lambdarun.App) (any, error) {
	d, err := api.New(app)
	if err != nil {
		return nil, err
	}
	return lambdarun.HTTP(app, d.UserRoute(api.ListDeliveries(d.Webhooks()))), nil
}
