// Command auth-google-callback is GET /auth/google/callback: finishes Google sign-in: exchanges the code, verifies the ID token, opens a session.
package main

import (
	"context"

	"github.com/redub/redub/shared/api"
	"github.com/redub/redub/shared/auth"
	"github.com/redub/redub/shared/lambdarun"
)

func main() {
	lambdarun.Main("auth-google-callback", setup)
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
	return lambdarun.HTTP(app, d.AuthRoute(g.Callback())), nil
}
