// Command auth-google is GET /auth/google: starts Google sign-in: state, nonce and PKCE, then a redirect to Google.
package main

import (
	"context"

	"github.com/redub/redub/shared/api"
	"github.com/redub/redub/shared/auth"
	"github.com/redub/redub/shared/lambdarun"
)

func main() {
	lambdarun.Main("auth-google", setup)
}

func setup(_ context.Context, app *lambdarun.App) (any, error) {
	d, err := api.New(app)
	if err != nil {
		return nil, err
	}
	g, err := auth.NewGoogle(auth.OptionsFrom(app.Config), d.Sessions, d.Users)
	if err != nil {
		return nil, err
	}
	return lambdarun.HTTP(app, d.AuthRoute(g.Start())), nil
}
