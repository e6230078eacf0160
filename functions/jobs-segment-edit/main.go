// Command jobs-segment-edit is PATCH /jobs/{id}/segments/{n}: edits one
// segment of a finished voiceover job (text, translation, speaker, voice or
// times within its neighbours'), for the next re-render.
package main

import (
	"context"

	"github.com/redub/redub/shared/api"
	"github.com/redub/redub/shared/lambdarun"
)

func main() {
	lambdarun.Main("jobs-segment-edit", setup)
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
	return lambdarun.HTTP(app, d.UserRoute(api.EditSegment(d.Jobs(), objs))), nil
}
