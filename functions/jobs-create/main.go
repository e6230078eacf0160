// Command jobs-create is POST /jobs: creates a job (idempotent on the Idempotency-Key header) and enqueues its first step.
package main

import (
	"context"

	"github.com/redub/redub/shared/api"
	"github.com/redub/redub/shared/lambdarun"
)

func main() {
	lambdarun.Main("jobs-create", setup)
}

func setup(ctx context.Context, app *lambdarun.App) (any, error) {
	d, err := api.New(app)
	if err != nil {
		return nil, err
	}
	q, err := d.Queue(ctx)
	if err != nil {
		return nil, err
	}
	return lambdarun.HTTP(app, d.UserRoute(api.CreateJob(d.Jobs(), q, d.JobCaps(), app.Log))), nil
}
