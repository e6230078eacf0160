package sqs

import (
	"encoding/json"
	"errors"
	"os"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/stretchr/testify/require"
)

func TestSQSEventGolden(t *testing.T) {
	t.Parallel()
	msgs := []types.Message{{
		MessageId:              aws.String("059f36b4-87a3-44ab-83d2-661975830a7d"),
		ReceiptHandle:          aws.String("AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a"),
		Body:                   aws.String("Test message."),
		MD5OfBody:              aws.String("e4e68fb7bd0e697a0ae8f1bb342846b3"),
		MD5OfMessageAttributes: aws.String("00484c68...59e48fb7"),
		Attributes: map[string]string{
			"ApproximateReceiveCount":          "1",
			"SentTimestamp":                    "1545082649183",
			"SenderId":                         "AIDAIENQZJOLO23YVJ4VO",
			"ApproximateFirstReceiveTimestamp": "1545082649185",
		},
		MessageAttributes: map[string]types.MessageAttributeValue{
			"myAttribute": {DataType: aws.String("String"), StringValue: aws.String("myValue")},
			"blob":        {DataType: aws.String("Binary"), BinaryValue: []byte("1100")},
		},
	}, {
		MessageId:     aws.String("2e1424d4-f796-459a-8184-9c92662be6da"),
		ReceiptHandle: aws.String("AQEBzWwaftRI0KuVm4tP+/7q1rGgNqicHq"),
		Body:          aws.String("Test message."),
		MD5OfBody:     aws.String("e4e68fb7bd0e697a0ae8f1bb342846b3"),
		Attributes: map[string]string{
			"ApproximateReceiveCount":          "2",
			"SentTimestamp":                    "1545082650636",
			"SenderId":                         "AIDAIENQZJOLO23YVJ4VO",
			"ApproximateFirstReceiveTimestamp": "1545082650649",
		},
	}}
	got, err := sqsEvent(msgs, "arn:aws:sqs:us-east-2:123456789012:my-queue", "us-east-2")
	require.NoError(t, err)
	want, err := os.ReadFile("testdata/sqs-event.json")
	require.NoError(t, err)
	require.JSONEq(t, string(want), string(got))

	var ev events.SQSEvent
	require.NoError(t, json.Unmarshal(got, &ev))
	require.Equal(t, []byte("1100"), ev.Records[0].MessageAttributes["blob"].BinaryValue)
}

func TestFailedItems(t *testing.T) {
	t.Parallel()
	batch := map[string]bool{"a": true, "b": true}
	for name, tc := range map[string]struct {
		payload string
		failed  []string
		bad     bool
	}{
		"empty":                  {payload: ""},
		"null":                   {payload: "null"},
		"empty object":           {payload: "{}"},
		"null list":              {payload: `{"batchItemFailures":null}`},
		"empty list":             {payload: `{"batchItemFailures":[]}`},
		"one failure":            {payload: `{"batchItemFailures":[{"itemIdentifier":"b"}]}`, failed: []string{"b"}},
		"two failures":           {payload: `{"batchItemFailures":[{"itemIdentifier":"a"},{"itemIdentifier":"b"}]}`, failed: []string{"a", "b"}},
		"unknown id":             {payload: `{"batchItemFailures":[{"itemIdentifier":"zzz"}]}`, bad: true},
		"empty id":               {payload: `{"batchItemFailures":[{"itemIdentifier":""}]}`, bad: true},
		"null id":                {payload: `{"batchItemFailures":[{"itemIdentifier":null}]}`, bad: true},
		"misspelt key":           {payload: `{"batchItemFailures":[{"itemidentifier":"a"}]}`, bad: true},
		"null item":              {payload: `{"batchItemFailures":[null]}`, bad: true},
		"not json":               {payload: `oops`, bad: true},
		"a string":               {payload: `"ok"`, bad: true},
		"list of the wrong type": {payload: `{"batchItemFailures":"a"}`, bad: true},
	} {
		t.Run(name, func(t *testing.T) {
			failed, err := failedItems([]byte(tc.payload), batch)
			if tc.bad {
				require.True(t, errors.Is(err, errBadBatchResponse), "err = %v", err)
				return
			}
			require.NoError(t, err)
			require.Len(t, failed, len(tc.failed))
			for _, id := range tc.failed {
				require.True(t, failed[id])
			}
		})
	}
}
