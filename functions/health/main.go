// Command health is GET /health: liveness, with version, commit and stage.
package main

import (
	"context"

	"github.com/redub/redub/shared/health"
	"github.com/redub/redub/shared/lambdarun"
)

func main() {
	lambdarun.Main("health", setup)
}

func setup(_ context.Context, app *lambdarun.App) (any, error) {
	info := health.Info{Version: app.Version, Commit: app.Commit, Stage: string(app.Config.Stage)}
	return lambdarun.HTTP(app, health.Live(info)), nil
}
