// Command assets-list is GET /assets: the caller's assets, newest first, with cursor pagination.
package main

import (
	"context"

	"github.com/redub/redub/shared/api"
	"github.com/redub/redub/shared/asset"
	"github.com/redub/redub/shared/lambdarun"
)

func main() {
	lambdarun.Main("assets-list", setup)
}

func setup(_ context.Context, app *lambdarun.App) (any, error) {
	d, err := api.New(app)
	if err != nil {
		return nil, err
	}
	return lambdarun.HTTP(app, d.UserRoute(api.ListAssets(asset.NewStore(d.DB)))), nil
}
