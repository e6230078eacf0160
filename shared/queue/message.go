package queue

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/google/uuid"

	"github.com/redub/redub/shared/apperr"
)

// Version is the message format this code writes. Consumers accept Version
// and Version-1, so old and new code can run side by side during a deploy.
const Version = 1

// Message is what travels on a step queue: ids only, never payloads.
type Message struct {
	V       int       `json:"v"`
	JobID   uuid.UUID `json:"job_id"`
	Step    string    `json:"step"`
	Attempt int       `json:"attempt"`
	TraceID string    `json:"trace_id,omitempty"`
}

// Decode parses a message body. A body of an unknown version, or without a
// job id or step, is an apperr.Invalid error (the consumer drops it to the DLQ
// rather than retrying it forever).
func Decode(body string) (Message, error) {
	var m Message
	dec := json.NewDecoder(strings.NewReader(body))
	if err := dec.Decode(&m); err != nil {
		return m, apperr.Wrap(apperr.Invalid, err, "malformed queue message")
	}
	switch {
	case m.V != Version && (m.V != Version-1 || m.V < 1):
		return m, apperr.New(apperr.Invalid, "queue message version %d not supported (this code reads %d and its predecessor)", m.V, Version)
	case m.JobID == uuid.Nil:
		return m, apperr.New(apperr.Invalid, "queue message without job_id")
	case m.Step == "":
		return m, apperr.New(apperr.Invalid, "queue message without step")
	}
	return m, nil
}

// SendMessageAPI is the SQS call Sender makes.
type SendMessageAPI interface {
	SendMessage(ctx context.Context, in *sqs.SendMessageInput, opts ...func(*sqs.Options)) (*sqs.SendMessageOutput, error)
}

// Sender sends step messages to the queue of their step.
type Sender struct {
	client SendMessageAPI
	urls   map[string]string
}

// NewSender returns a Sender over the step -> queue URL map (config.Queues.All()).
func NewSender(client SendMessageAPI, urls map[string]string) *Sender {
	return &Sender{client: client, urls: urls}
}

// Send enqueues m on its step's queue. A step without a configured queue is
// an error naming the variable to set.
func (s *Sender) Send(ctx context.Context, m Message) error {
	url, ok := s.urls[m.Step]
	if !ok || url == "" {
		return fmt.Errorf("send %s message: no queue URL configured (set %s_QUEUE_URL)", m.Step, strings.ToUpper(m.Step))
	}
	m.V = Version
	body, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode %s message: %w", m.Step, err)
	}
	b := string(body)
	if _, err := s.client.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &url, MessageBody: &b}); err != nil {
		return fmt.Errorf("send %s message for job %s: %w", m.Step, m.JobID, err)
	}
	return nil
}
