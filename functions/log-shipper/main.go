// Command log-shipper forwards every function's JSON log lines (CloudWatch
// Logs subscription filters) to Axiom or Loki, as LOG_SHIP_DESTINATION says;
// a batch the destination refuses waits on LOG_SHIP_QUEUE_URL, which this
// function also reads.
package main

import (
	"context"

	"github.com/redub/redub/shared/lambdarun"
	"github.com/redub/redub/shared/logship"
)

func main() {
	lambdarun.Main("log-shipper", setup)
}

func setup(ctx context.Context, app *lambdarun.App) (any, error) {
	return logship.New(ctx, app)
}
