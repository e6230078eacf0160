// Command me is GET /me: the signed-in user.
package main

import (
	"context"

	"github.com/redub/redub/shared/api"
	"github.com/redub/redub/shared/auth"
	"github.com/redub/redub/shared/lambdarun"
)

func main() {
	lambdarun.Main("me", setup)
}

func setup(_ context.Context, app *lambdarun.App) (any, error) {
	d, err := api.New(app)
	if err != nil {
		return nil, err
	}
	return lambdarun.HTTP(app, d.UserRoute(auth.MeHandler())), nil
}
