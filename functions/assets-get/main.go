// Command assets-get is GET /assets/{id}: one of the caller's assets.
package main

import (
	"context"

	"github.com/redub/redub/shared/api"
	"github.com/redub/redub/shared/asset"
	"github.com/redub/redub/shared/lambdarun"
)

func main() {
	lambdarun.Main("assets-get", setup)
}

func setup(_ context.Context, app *lambdarun.App) (any, error) {
	d, err := api.New(app)
	if err != nil {
		return nil, err
	}
	return lambdarun.HTTP(app, d.UserRoute(api.GetAsset(asset.NewStore(d.DB)))), nil
}
