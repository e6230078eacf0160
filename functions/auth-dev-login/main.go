// Command auth-dev-login is POST /auth/dev-login: signs in a local user without Google; exists only when STAGE=development.
package main

import (
	"context"

	"github.com/redub/redub/shared/api"
	"github.com/redub/redub/shared/auth"
	"github.com/redub/redub/shared/lambdarun"
)

func main() {
	lambdarun.Main("auth-dev-login", setup)
}

func setup(_ context.Context, app *lambdarun.App) (any, error) {
	d, err := api.New(app)
	if err != nil {
		return nil, err
	}
	h, err := auth.NewDevLogin(auth.OptionsFrom(app.Config), d.Sessions, d.Users)
	if err != nil {
		return nil, err
	}
	return lambdarun.HTTP(app, d.AuthRoute(h)), nil
}
