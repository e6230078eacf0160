package logship

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/redub/redub/shared/config"
	"github.com/redub/redub/shared/lambdarun"
	"github.com/redub/redub/shared/queue"
)

// NewDestination returns the destination LOG_SHIP_* name, or nil when
// shipping is off.
func NewDestination(c config.LogShip) Destination {
	client := &http.Client{Timeout: 10 * time.Second}
	switch c.Destination {
	case "axiom":
		return Axiom{URL: c.URL, Dataset: c.Dataset, Token: c.Token, Client: client}
	case "loki":
		return Loki{URL: c.URL, User: c.User, Token: c.Token, Format: c.Format, Client: client}
	}
	return nil
}

// New builds the log shipper's handler: it takes both a CloudWatch Logs
// subscription event and an SQS event from the log-shipping queue.
func New(ctx context.Context, app *lambdarun.App) (func(context.Context, json.RawMessage) (any, error), error) {
	awsCfg, err := app.AWS(ctx)
	if err != nil {
		return nil, err
	}
	s := &Shipper{Dest: NewDestination(app.Config.LogShip), Stage: string(app.Config.Stage),
		Queue: queue.NewClient(awsCfg, app.Getenv), QueueURL: app.Config.Queues.LogShip, Log: app.Log}
	return Handler(app, s), nil
}

// Handler tells the two events apart: {"awslogs": ...} is a subscription
// event, {"Records": [...]} the queue's.
func Handler(app *lambdarun.App, s *Shipper) func(context.Context, json.RawMessage) (any, error) {
	fromQueue := lambdarun.SQS(app, s.HandleQueued)
	return func(ctx context.Context, raw json.RawMessage) (any, error) {
		var probe struct {
			AWSLogs *json.RawMessage  `json:"awslogs"`
			Records []json.RawMessage `json:"Records"`
		}
		if err := json.Unmarshal(raw, &probe); err != nil {
			return nil, fmt.Errorf("log shipper: the event is not JSON: %w", err)
		}
		if probe.AWSLogs != nil {
			var ev events.CloudwatchLogsEvent
			if err := json.Unmarshal(raw, &ev); err != nil {
				return nil, fmt.Errorf("log shipper: read the subscription event: %w", err)
			}
			return nil, s.HandleLogs(ctx, ev)
		}
		var ev events.SQSEvent
		if err := json.Unmarshal(raw, &ev); err != nil {
			return nil, fmt.Errorf("log shipper: read the queue event: %w", err)
		}
		return fromQueue(ctx, ev)
	}
}
