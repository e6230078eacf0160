// Command jobs-list is GET /jobs: the caller's jobs, newest first, filtered by status, with cursor pagination.
package main

import (
	"context"

	"github.com/redub/redub/shared/api"
	"github.com/redub/redub/shared/lambdarun"
)

func main() {
	lambdarun.Main("jobs-list", setup)
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
	return lambdarun.HTTP(app, d.UserRoute(api.ListJobs(d.Jobs(), costs, prices))), nil
}
