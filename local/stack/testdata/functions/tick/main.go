// Command tick records each scheduled event, for the local stack's tests.
package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
)

func main() {
	lambda.Start(func(_ context.Context, ev events.EventBridgeEvent) (map[string]string, error) {
		b, _ := json.Marshal(ev)
		_ = os.WriteFile(filepath.Join(os.Getenv("RECORD_DIR"), "tick-"+ev.ID+".json"), b, 0o644)
		return map[string]string{"ticked": ev.ID}, nil
	})
}
