// Command transcribe is the transcribe step: it turns the speech into timed segments (OpenAI, or pocketsphinx offline).
package main

import (
	"context"

	"github.com/redub/redub/shared/lambdarun"
	"github.com/redub/redub/shared/steps"
)

func main() {
	lambdarun.Main("transcribe", setup)
}

func setup(ctx context.Context, app *lambdarun.App) (any, error) {
	w, err := steps.Wire(ctx, app)
	if err != nil {
		return nil, err
	}
	step, err := w.Transcribe()
	if err != nil {
		return nil, err
	}
	return w.StepHandler(step), nil
}
