// Command sessions-delete is DELETE /sessions: signs the caller out everywhere
// by revoking every session of the signed-in user.
package main

import (
	"context"

	"github.com/redub/redub/shared/api"
	"github.com/redub/redub/shared/auth"
	"github.com/redub/redub/shared/lambdarun"
)

func main() {
	lambdarun.Main("sessions-delete", setup)
}

func setup(_ context.Context, app *lambdarun.App) (any, error) {
	d, err := api.New(app)
	if err != nil {
		return nil, err
	}
	return lambdarun.HTTP(app, d.UserRoute(auth.SignOutEverywhereHandler(d.Sessions))), nil
}
