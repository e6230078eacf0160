// Command auth-logout is POST /auth/logout: revokes the caller's session.
package main

import (
	"context"

	"github.com/redub/redub/shared/api"
	"github.com/redub/redub/shared/auth"
	"github.com/redub/redub/shared/lambdarun"
)

func main() {
	lambdarun.Main("auth-logout", setup)
}

func setup(_ context.Context, app *lambdarun.App) (any, error) {
	d, err := api.New(app)
	if err != nil {
		return nil, err
	}
	return lambdarun.HTTP(app, d.AuthRoute(auth.LogoutHandler(d.Sessions))), nil
}
