// Command sweeper runs every minute: it re-sends steps that were queued but
// never sent, restarts steps whose worker died (an expired lease), fails jobs
// whose step's current message reached a dead-letter queue, and removes
// pending uploads older than a day.
package main

import (
	"context"

	"github.com/redub/redub/shared/lambdarun"
	"github.com/redub/redub/shared/sweep"
)

func main() {
	lambdarun.Main("sweeper", setup)
}

func setup(ctx context.Context, app *lambdarun.App) (any, error) {
	s, err := sweep.New(ctx, app)
	if err != nil {
		return nil, err
	}
	return lambdarun.Scheduled(app, s.Handle), nil
}
