// Command ingest verifies uploads from the bucket's ObjectCreated events
// (through the ingest queue): owner, size and real media (ffprobe), then
// marks the asset ready and starts the job named at upload, or rejects it.
package main

import (
	"context"

	"github.com/redub/redub/shared/ingest"
	"github.com/redub/redub/shared/lambdarun"
)

func main() {
	lambdarun.Main("ingest", setup)
}

func setup(ctx context.Context, app *lambdarun.App) (any, error) {
	in, err := ingest.New(ctx, app)
	if err != nil {
		return nil, err
	}
	return in.Handler(app), nil
}
