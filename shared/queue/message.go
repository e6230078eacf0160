package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/google/uuid"

	"github.com/redub/redub/shared/apperr"
)

// Version is the message format this code writes. Consumers accept Version
// and Version-1, so old and new code can run side by side during a deploy: a
// message of a newer version goes back to the queue for the new code to take
// (ErrNewer), never deleted. Version 0 is a message without "v". Version 2
// added Part and Merge (segment fan-out); a version 1 message is a whole
// step, as before.
const Version = 2

// Message is what travels on a step queue: ids only, never payloads.
type Message struct {
	V     int       `json:"v"`
	JobID uuid.UUID `json:"job_id"`
	Step  string    `json:"step"`
	// Attempt is the step's dispatch number when the message was sent: a
	// message older than the step's current dispatch is a stale repeat.
	Attempt int    `json:"attempt"`
	TraceID string `json:"trace_id,omitempty"`
	// Part is the part of the step the message runs (1 for the first);
	// 0 is the whole step. Attempt is then the part's dispatch number.
	Part int `json:"part,omitempty"`
	// Merge asks for the merge of the step's parts, sent by the last part
	// to finish.
	Merge bool `json:"merge,omitempty"`
}

// version is the oldest version that carries m: a whole-step message stays
// version 1, so consumers of the previous release still take it during a
// deploy; only part and merge messages need version 2.
func (m Message) version() int {
	if m.Part == 0 && !m.Merge {
		return 1
	}
	return Version
}

// ErrNewer is the error of Decode for a message of a version newer than this
// code reads. It is not malformed: hand it back (Retry) for newer code.
var ErrNewer = errors.New("queue message of a newer version than this code reads")

// Decode parses a message body. A body of a version newer than Version wraps
// ErrNewer. A body that is not JSON, of a version older than Version-1, or
// without a job id or step is an apperr.Invalid error: the consumer drops it.
func Decode(body string) (Message, error) {
	var m Message
	dec := json.NewDecoder(strings.NewReader(body))
	if err := dec.Decode(&m); err != nil {
		return m, apperr.Wrap(apperr.Invalid, err, "malformed queue message")
	}
	switch {
	case m.V > Version:
		return m, fmt.Errorf("version %d (this code reads %d and %d): %w", m.V, Version-1, Version, ErrNewer)
	case m.V < Version-1:
		return m, apperr.New(apperr.Invalid, "queue message version %d not supported (this code reads %d and its predecessor)", m.V, Version)
	case m.JobID == uuid.Nil:
		return m, apperr.New(apperr.Invalid, "queue message without job_id")
	case m.Step == "":
		return m, apperr.New(apperr.Invalid, "queue message without step")
	case m.Part < 0 || (m.Part > 0 && m.Merge):
		return m, apperr.New(apperr.Invalid, "queue message with part %d and merge %t", m.Part, m.Merge)
	}
	return m, nil
}

// RetryError asks the consumer to hand its message back to the queue so that
// it is received again After from now (ChangeMessageVisibility), instead of
// after the queue's visibility timeout.
type RetryError struct {
	After time.Duration
	Err   error
}

func (e *RetryError) Error() string {
	return fmt.Sprintf("retry in %s: %v", e.After.Round(time.Millisecond), e.Err)
}

func (e *RetryError) Unwrap() error { return e.Err }

// Retry wraps err so that its message comes back after about after.
func Retry(after time.Duration, err error) error { return &RetryError{After: after, Err: err} }

// RetryAfter returns the delay a RetryError in err's chain asks for.
func RetryAfter(err error) (time.Duration, bool) {
	var r *RetryError
	if errors.As(err, &r) {
		return r.After, true
	}
	return 0, false
}

// Backoff bounds: the first retry of a message comes after about BackoffBase,
// each later one BackoffFactor times later, never after more than BackoffMax.
const (
	BackoffBase   = 5 * time.Second
	BackoffFactor = 3
	BackoffMax    = 15 * time.Minute
)

// Backoff is the delay before the next receive of a message that failed on
// its receive-th receive (1 for the first): 5 s, 15 s, 45 s, ... up to 15
// minutes, each scaled by jitter, a factor from 0.8 to 1.2 (from the
// caller's random source, so tests can fix it).
func Backoff(receive int, jitter float64) time.Duration {
	d := BackoffBase
	for i := 1; i < receive && d < BackoffMax; i++ {
		d *= BackoffFactor
	}
	d = min(d, BackoffMax)
	jitter = min(max(jitter, 0.8), 1.2)
	return time.Duration(float64(d) * jitter)
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
	m.V = m.version()
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
