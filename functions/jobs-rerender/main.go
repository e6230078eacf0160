// Command jobs-rerender is POST /jobs/{id}/rerender: renders an edited
// voiceover job again as revision n+1 (synthesize, then mix).
package main

import (
	"context"

	"github.com/redub/redub/shared/api"
	"github.com/redub/redub/shared/lambdarun"
)

func main() {
	lambdarun.Main("jobs-rerender", setup)
}

func setup(ctx context.Context, app *lambdarun.App) (any, error) {
	d, err := api.New(app)
	if err != nil {
		return nil, err
	}
	q, err := d.Queue(ctx)
	if err != nil {
		return nil, err
	}
	return lambdarun.HTTP(app, d.UserRoute(api.Rerender(d.Jobs(), q, app.Log))), nil
}
