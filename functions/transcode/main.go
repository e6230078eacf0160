// Command transcode is the transcode step: it makes the MP4 rendition, the poster and the 16 kHz speech WAV.
package main

import (
	"context"

	"github.com/redub/redub/shared/lambdarun"
	"github.com/redub/redub/shared/steps"
)

func main() {
	lambdarun.Main("transcode", setup)
}

func setup(ctx context.Context, app *lambdarun.App) (any, error) {
	w, err := steps.Wire(ctx, app)
	if err != nil {
		return nil, err
	}
	return w.StepHandler(&steps.Transcode{Deps: w.Deps, PartLength: app.Config.Pipeline.TranscodePart}), nil
}
