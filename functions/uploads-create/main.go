// Command uploads-create is POST /uploads: validates an upload, creates a pending asset and returns a presigned PUT or multipart part URLs.
package main

import (
	"context"

	"github.com/redub/redub/shared/api"
	"github.com/redub/redub/shared/lambdarun"
)

func main() {
	lambdarun.Main("uploads-create", setup)
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
	return lambdarun.HTTP(app, d.UserRoute(api.CreateUpload(svc, app.Metrics))), nil
}
