// Command jobs-transcript is GET /jobs/{id}/transcript: a job's segments
// with speaker, times, source text, translation and voice, edits applied.
package main

import (
	"context"

	"github.com/redub/redub/shared/api"
	"github.com/redub/redub/shared/lambdarun"
)

func main() {
	lambdarun.Main("jobs-transcript", setup)
}

func setup(ctx context.Context, app *lambdarun.App) (any, error) {
	d, err := api.New(app)
	if err != nil {
		return nil, err
	}
	objs, err := d.Objects(ctx)
	if err != nil {
		return nil, err
	}
	return lambdarun.HTTP(app, d.UserRoute(api.GetTranscript(d.Jobs(), objs))), nil
}
