// Command jobs-get is GET /jobs/{id}: one of the caller's jobs with its steps, progress and outputs.
package main

import (
	"context"

	"github.com/redub/redub/shared/api"
	"github.com/redub/redub/shared/lambdarun"
)

func main() {
	lambdarun.Main("jobs-get", setup)
}

func setup(_ context.Context, app *lambdarun.App) (any, error) {
	d, err := api.New(app)
	if err != nil {
		return nil, err
	}
	costs, prices, err := d.Costs()
	if err != nil {
		return nil, err
	}
	return lambdarun.HTTP(app, d.UserRoute(api.GetJob(d.Jobs(), costs, prices))), nil
}
