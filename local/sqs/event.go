package sqs

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// lambdaMessage is one record of the event Lambda sends a function for an
// SQS event source; field for field what aws-lambda-go's events.SQSMessage
// decodes.
type lambdaMessage struct {
	MessageID              string                     `json:"messageId"`
	ReceiptHandle          string                     `json:"receiptHandle"`
	Body                   string                     `json:"body"`
	Attributes             map[string]string          `json:"attributes"`
	MessageAttributes      map[string]lambdaAttribute `json:"messageAttributes"`
	MD5OfMessageAttributes string                     `json:"md5OfMessageAttributes,omitempty"`
	MD5OfBody              string                     `json:"md5OfBody"`
	EventSource            string                     `json:"eventSource"`
	EventSourceARN         string                     `json:"eventSourceARN"`
	AWSRegion              string                     `json:"awsRegion"`
}

// lambdaAttribute is a message attribute as Lambda spells it: camelCase,
// with both list fields always present.
type lambdaAttribute struct {
	StringValue      *string  `json:"stringValue,omitempty"`
	BinaryValue      []byte   `json:"binaryValue,omitempty"` // base64 in JSON
	StringListValues []string `json:"stringListValues"`
	BinaryListValues [][]byte `json:"binaryListValues"`
	DataType         string   `json:"dataType"`
}

// sqsEvent renders msgs as the event Lambda's SQS event source sends.
func sqsEvent(msgs []types.Message, queueARN, region string) ([]byte, error) {
	records := make([]lambdaMessage, len(msgs))
	for i, m := range msgs {
		attrs := make(map[string]lambdaAttribute, len(m.MessageAttributes))
		for name, a := range m.MessageAttributes {
			attrs[name] = lambdaAttribute{
				StringValue:      a.StringValue,
				BinaryValue:      a.BinaryValue,
				StringListValues: nonNil(a.StringListValues),
				BinaryListValues: nonNil(a.BinaryListValues),
				DataType:         aws.ToString(a.DataType),
			}
		}
		system := m.Attributes
		if system == nil {
			system = map[string]string{}
		}
		records[i] = lambdaMessage{
			MessageID:              aws.ToString(m.MessageId),
			ReceiptHandle:          aws.ToString(m.ReceiptHandle),
			Body:                   aws.ToString(m.Body),
			Attributes:             system,
			MessageAttributes:      attrs,
			MD5OfMessageAttributes: aws.ToString(m.MD5OfMessageAttributes),
			MD5OfBody:              aws.ToString(m.MD5OfBody),
			EventSource:            "aws:sqs",
			EventSourceARN:         queueARN,
			AWSRegion:              region,
		}
	}
	b, err := json.Marshal(struct {
		Records []lambdaMessage `json:"Records"`
	}{records})
	if err != nil {
		return nil, fmt.Errorf("encode sqs event: %w", err)
	}
	return b, nil
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// errBadBatchResponse is a response that Lambda would not accept as a batch
// item failure report; the whole batch then counts as failed.
var errBadBatchResponse = errors.New("invalid batch item failure response")

// failedItems reads a handler's answer when ReportBatchItemFailures is on and
// returns the ids of the messages that failed. As in Lambda, an empty or null
// answer, an empty object and an empty or null list mean success; an answer
// that is not such an object, or an item whose itemIdentifier is missing,
// empty or not a message of the batch, fails the whole batch (the error wraps
// errBadBatchResponse).
func failedItems(payload []byte, batch map[string]bool) (map[string]bool, error) {
	payload = bytes.TrimSpace(payload)
	if len(payload) == 0 || bytes.Equal(payload, []byte("null")) {
		return nil, nil
	}
	// Decoded by hand: encoding/json matches keys case-insensitively, and
	// Lambda rejects an itemIdentifier under any other spelling.
	var resp map[string]json.RawMessage
	if err := json.Unmarshal(payload, &resp); err != nil {
		return nil, fmt.Errorf("%w: %w", errBadBatchResponse, err)
	}
	var items []map[string]json.RawMessage
	if raw, ok := resp["batchItemFailures"]; ok {
		if err := json.Unmarshal(raw, &items); err != nil {
			return nil, fmt.Errorf("%w: batchItemFailures: %w", errBadBatchResponse, err)
		}
	}
	failed := make(map[string]bool, len(items))
	for _, item := range items {
		var id string
		if raw, ok := item["itemIdentifier"]; !ok || json.Unmarshal(raw, &id) != nil || id == "" {
			return nil, fmt.Errorf("%w: an item has no itemIdentifier", errBadBatchResponse)
		}
		if !batch[id] {
			return nil, fmt.Errorf("%w: itemIdentifier %q is not a message of the batch", errBadBatchResponse, id)
		}
		failed[id] = true
	}
	return failed, nil
}
