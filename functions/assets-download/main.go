// Command assets-download is GET /assets/{id}/download: a short-lived presigned GET for an asset or a job output.
package main

import (
	"context"

	"github.com/redub/redub/shared/api"
	"github.com/redub/redub/shared/lambdarun"
)

func main() {
	lambdarun.Main("assets-download", setup)
}

func setup(ctx context.Context, app *lambdarun.App) (any, error) {
	d, err := api.New(app)
	if err != nil {
		return nil, err
	}
	svc, err := d.Assets(ctx)
	if err != nil {
		return nil, err
	}
	return lambdarun.HTTP(app, d.UserRoute(api.Download(svc))), nil
}
