// Command translate is the translate step: it translates the transcript with OpenAI, keeping segment ids and times.
package main

import (
	"context"

	"github.com/redub/redub/shared/lambdarun"
	"github.com/redub/redub/shared/steps"
)

func main() {
	lambdarun.Main("translate", setup)
}

func setup(ctx context.Context, app *lambdarun.App) (any, error) {
	w, err := steps.Wire(ctx, app)
	if err != nil {
		return nil, err
	}
	return w.StepHandler(&steps.Translate{Deps: w.Deps, OpenAI: w.OpenAI(), Model: app.Config.Models.Translate, Slots: app.Config.Speech.SlotAware}), nil
}
