// Command synthesize is the synthesize step: it speaks every segment with the new voice (ElevenLabs, or espeak-ng offline).
package main

import (
	"context"

	"github.com/redub/redub/shared/lambdarun"
	"github.com/redub/redub/shared/steps"
)

func main() {
	lambdarun.Main("synthesize", setup)
}

func setup(ctx context.Context, app *lambdarun.App) (any, error) {
	w, err := steps.Wire(ctx, app)
	if err != nil {
		return nil, err
	}
	step, err := w.Synthesize()
	if err != nil {
		return nil, err
	}
	return w.StepHandler(step), nil
}
