// Command mix is the mix step: it places the new voice over the original, ducks it, normalises loudness and muxes captions.
package main

import (
	"context"

	"github.com/redub/redub/shared/lambdarun"
	"github.com/redub/redub/shared/steps"
)

func main() {
	lambdarun.Main("mix", setup)
}

func setup(ctx context.Context, app *lambdarun.App) (any, error) {
	w, err := steps.Wire(ctx, app)
	if err != nil {
		return nil, err
	}
	return w.StepHandler(&steps.Mix{Deps: w.Deps, PartLength: app.Config.Pipeline.MixPart}), nil
}
