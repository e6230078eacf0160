// Command worker records each SQS message it gets, for the local stack's
// tests. A body of "fail" or "poison" fails that message only.
package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
)

func main() {
	lambda.Start(func(_ context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
		var res events.SQSEventResponse
		for _, m := range ev.Records {
			b, _ := json.Marshal(map[string]any{"record": m, "batch_size": len(ev.Records)})
			name := strings.Join([]string{m.MessageId, m.Attributes["ApproximateReceiveCount"]}, "-") + ".json"
			_ = os.WriteFile(filepath.Join(os.Getenv("RECORD_DIR"), "sqs-"+name), b, 0o644)
			if m.Body == "poison" || m.Body == "fail" && m.Attributes["ApproximateReceiveCount"] == "1" {
				res.BatchItemFailures = append(res.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: m.MessageId})
			}
		}
		return res, nil
	})
}
