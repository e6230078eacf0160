// Package logship forwards the functions' JSON log lines, as CloudWatch
// Logs subscription filters deliver them, to Axiom's ingest API or Loki's
// push API (LOG_SHIP_DESTINATION).
//
// A subscription event is base64 of gzip of JSON ({logGroup, logStream,
// logEvents: [{id, timestamp, message}], messageType}). Each message that
// is one of our slog JSON lines becomes a Line; Lambda's own START/END/REPORT
// lines and anything else that is not a JSON object are skipped (the
// template's filter pattern already keeps most of them out).
//
// Lines go out in batches, each tried a few times within the invocation. A
// batch the destination still refuses is sent to LOG_SHIP_QUEUE_URL: the
// same function reads that queue and tries again on a growing backoff, and
// after five receives the batch waits in the queue's dead-letter queue for
// `redub dlq redrive`. So a destination that is down costs no line.
package logship

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

// Line is one log line: its JSON object as the function wrote it, and what
// the destinations index it by.
type Line struct {
	Time     time.Time      `json:"time"`
	Function string         `json:"function"`
	Level    string         `json:"level"` // lower case: debug, info, warn, error
	Raw      string         `json:"raw"`   // the line exactly as written
	Fields   map[string]any `json:"-"`
}

// Destination sends one batch; an error means the batch may be sent again.
type Destination interface {
	Send(ctx context.Context, stage string, lines []Line) error
	Name() string
}

// Limits of a batch.
const (
	maxBatchLines = 1000
	maxBatchBytes = 1 << 20
	// maxQueuedBytes keeps a queued batch under SQS's 256 KiB message size.
	maxQueuedBytes = 200 << 10
)

// SendMessageAPI is the SQS call the shipper makes to queue a refused batch.
type SendMessageAPI interface {
	SendMessage(ctx context.Context, in *sqs.SendMessageInput, opts ...func(*sqs.Options)) (*sqs.SendMessageOutput, error)
}

// Shipper forwards lines to a Destination.
type Shipper struct {
	Dest     Destination // nil: shipping is off, lines are dropped (and counted in the log)
	Stage    string
	Queue    SendMessageAPI
	QueueURL string // LOG_SHIP_QUEUE_URL
	Log      *slog.Logger
	// Tries is how many times a batch is sent within one invocation
	// (default 3), Pause the first wait between them (default 200 ms,
	// doubling).
	Tries int
	Pause time.Duration
}

// queued is the body of a message on the log-shipping queue.
type queued struct {
	V     int    `json:"v"`
	Lines []Line `json:"lines"`
}

// Decode reads a CloudWatch Logs subscription event into lines. The
// function is the log group's last path element (…/<LogicalId>) unless the
// line names its own.
func Decode(ev events.CloudwatchLogsEvent) ([]Line, error) {
	data, err := ev.AWSLogs.Parse() // base64, gzip, JSON
	if err != nil {
		return nil, fmt.Errorf("decode log subscription event: %w", err)
	}
	if data.MessageType == "CONTROL_MESSAGE" {
		return nil, nil
	}
	group := data.LogGroup[strings.LastIndexByte(data.LogGroup, '/')+1:]
	lines := make([]Line, 0, len(data.LogEvents))
	for _, e := range data.LogEvents {
		l, ok := parseLine(e.Message, time.UnixMilli(e.Timestamp).UTC(), group)
		if ok {
			lines = append(lines, l)
		}
	}
	return lines, nil
}

// parseLine reads one slog JSON line; ok is false for anything else.
func parseLine(msg string, at time.Time, group string) (Line, bool) {
	msg = strings.TrimSpace(msg)
	if !strings.HasPrefix(msg, "{") {
		return Line{}, false
	}
	var fields map[string]any
	if err := json.Unmarshal([]byte(msg), &fields); err != nil {
		return Line{}, false
	}
	l := Line{Time: at, Function: group, Level: "info", Raw: msg, Fields: fields}
	if s, ok := fields["time"].(string); ok {
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			l.Time = t.UTC()
		}
	}
	if s, ok := fields["level"].(string); ok && s != "" {
		l.Level = strings.ToLower(s)
	}
	if s, ok := fields["function"].(string); ok && s != "" {
		l.Function = s
	}
	return l, true
}

// HandleLogs ships a subscription event's lines. It fails only when a
// refused batch could not be queued either (then CloudWatch Logs retries
// the whole event).
func (s *Shipper) HandleLogs(ctx context.Context, ev events.CloudwatchLogsEvent) error {
	lines, err := Decode(ev)
	if err != nil {
		s.Log.ErrorContext(ctx, "dropping a log event that does not decode", "error", err.Error())
		return nil
	}
	if s.Dest == nil {
		s.Log.DebugContext(ctx, "log shipping is off (LOG_SHIP_DESTINATION is empty)", "lines", len(lines))
		return nil
	}
	var errs []error
	for _, b := range batches(lines, maxBatchLines, maxBatchBytes) {
		if err := s.send(ctx, b); err != nil {
			s.Log.WarnContext(ctx, "log destination refused a batch; queueing it to send again", "destination", s.Dest.Name(),
				"lines", len(b), "error", err.Error())
			if qerr := s.enqueue(ctx, b); qerr != nil {
				errs = append(errs, qerr)
			}
		}
	}
	return errors.Join(errs...)
}

// HandleQueued sends a batch from the log-shipping queue; an error hands it
// back (lambdarun's SQS adapter), and after five receives it stays in the
// dead-letter queue.
func (s *Shipper) HandleQueued(ctx context.Context, msg events.SQSMessage) error {
	var q queued
	if err := json.Unmarshal([]byte(msg.Body), &q); err != nil {
		s.Log.ErrorContext(ctx, "dropping a log-shipping message that does not decode", "error", err.Error())
		return nil
	}
	if s.Dest == nil {
		return errors.New("log shipping is off (LOG_SHIP_DESTINATION is empty): the queued batch waits")
	}
	for i := range q.Lines {
		l, ok := parseLine(q.Lines[i].Raw, q.Lines[i].Time, q.Lines[i].Function)
		if ok {
			q.Lines[i].Fields = l.Fields
		}
	}
	return s.send(ctx, q.Lines)
}

// send tries a batch Tries times, pausing longer each time.
func (s *Shipper) send(ctx context.Context, lines []Line) error {
	tries, pause := s.Tries, s.Pause
	if tries <= 0 {
		tries = 3
	}
	if pause <= 0 {
		pause = 200 * time.Millisecond
	}
	var err error
	for i := range tries {
		if err = s.Dest.Send(ctx, s.Stage, lines); err == nil {
			return nil
		}
		if i == tries-1 {
			break
		}
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(pause << i):
		}
	}
	return fmt.Errorf("send %d lines to %s (%d tries): %w", len(lines), s.Dest.Name(), tries, err)
}

// enqueue puts a refused batch on the queue, split under SQS's size limit.
func (s *Shipper) enqueue(ctx context.Context, lines []Line) error {
	if s.QueueURL == "" {
		return errors.New("queue a refused log batch: LOG_SHIP_QUEUE_URL is not set; the lines are lost")
	}
	for _, b := range batches(lines, maxBatchLines, maxQueuedBytes) {
		body, err := json.Marshal(queued{V: 1, Lines: b})
		if err != nil {
			return fmt.Errorf("encode log batch: %w", err)
		}
		str := string(body)
		if _, err := s.Queue.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &s.QueueURL, MessageBody: &str}); err != nil {
			return fmt.Errorf("queue a refused log batch: %w", err)
		}
	}
	return nil
}

// batches splits lines into runs of at most n lines and about size bytes.
func batches(lines []Line, n, size int) [][]Line {
	var out [][]Line
	start, bytes := 0, 0
	for i, l := range lines {
		cost := len(l.Raw) + 64
		if i > start && (i-start >= n || bytes+cost > size) {
			out = append(out, lines[start:i])
			start, bytes = i, 0
		}
		bytes += cost
	}
	if start < len(lines) {
		out = append(out, lines[start:])
	}
	return out
}

// post sends one request and treats any status outside 2xx as a failure,
// quoting the start of the answer.
func post(ctx context.Context, client *http.Client, req *http.Request) error {
	res, err := client.Do(req.WithContext(ctx))
	if err != nil {
		return fmt.Errorf("post %s: %w", req.URL.Path, err)
	}
	defer res.Body.Close()
	if res.StatusCode/100 == 2 {
		return nil
	}
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(http.MaxBytesReader(nil, res.Body, 512))
	return fmt.Errorf("post %s: status %d: %s", req.URL.Path, res.StatusCode, strings.TrimSpace(buf.String()))
}
