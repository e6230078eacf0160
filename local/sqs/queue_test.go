package sqs

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/stretchr/testify/require"
)

func TestEnsureQueues(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	work, dlq := b.name(t, "work"), b.name(t, "dlq")
	fifo, fifoDLQ := b.name(t, "work.fifo"), b.name(t, "dlq.fifo")
	specs := []QueueSpec{ // sources before their dead-letter queues: EnsureQueues sorts them
		{Name: work, VisibilityTimeout: 5 * time.Second, Retention: 2 * time.Hour, MaxMessageSize: 2048, DeadLetter: dlq, MaxReceiveCount: 3},
		{Name: dlq, Retention: 14 * 24 * time.Hour},
		{Name: fifo, FIFO: true, VisibilityTimeout: 1500 * time.Millisecond, DeadLetter: fifoDLQ, MaxReceiveCount: 2},
		{Name: fifoDLQ, FIFO: true},
	}
	infos, err := EnsureQueues(ctx, b.client, specs)
	require.NoError(t, err)
	require.Len(t, infos, 4)
	for _, s := range specs {
		require.Equal(t, QueueURL(b.server.Endpoint(), b.server.AccountID(), s.Name), infos[s.Name].URL)
		require.Equal(t, "arn:aws:sqs:us-east-1:123456789012:"+s.Name, infos[s.Name].ARN)
	}

	attrs := func(name string) map[string]string {
		out, err := b.client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
			QueueUrl: aws.String(infos[name].URL), AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameAll},
		})
		require.NoError(t, err)
		return out.Attributes
	}
	a := attrs(work)
	require.Equal(t, "5", a["VisibilityTimeout"])
	require.Equal(t, "7200", a["MessageRetentionPeriod"])
	require.Equal(t, "2048", a["MaximumMessageSize"])
	require.JSONEq(t, `{"deadLetterTargetArn":"`+infos[dlq].ARN+`","maxReceiveCount":3}`, a["RedrivePolicy"])
	require.Equal(t, "1209600", attrs(dlq)["MessageRetentionPeriod"])
	a = attrs(fifo)
	require.Equal(t, "true", a["FifoQueue"])
	require.Equal(t, "2", a["VisibilityTimeout"], "whole seconds, rounded up")
	require.JSONEq(t, `{"deadLetterTargetArn":"`+infos[fifoDLQ].ARN+`","maxReceiveCount":2}`, a["RedrivePolicy"])

	again, err := EnsureQueues(ctx, b.client, specs)
	require.NoError(t, err, "idempotent")
	require.Equal(t, infos, again)

	specs[0].VisibilityTimeout, specs[0].MaxReceiveCount = 9*time.Second, 4
	_, err = EnsureQueues(ctx, b.client, specs[:1])
	require.NoError(t, err, "an existing dead-letter queue need not be listed")
	a = attrs(work)
	require.Equal(t, "9", a["VisibilityTimeout"], "attributes of an existing queue are updated")
	require.JSONEq(t, `{"deadLetterTargetArn":"`+infos[dlq].ARN+`","maxReceiveCount":4}`, a["RedrivePolicy"])
}

func TestEnsureQueuesRejects(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for name, specs := range map[string][]QueueSpec{
		"missing dead-letter queue": {{Name: b.name(t, "a"), DeadLetter: b.name(t, "nowhere"), MaxReceiveCount: 2}},
		"fifo name without flag":    {{Name: b.name(t, "a.fifo")}},
		"flag without fifo name":    {{Name: b.name(t, "a"), FIFO: true}},
		"mixed types":               {{Name: b.name(t, "a"), DeadLetter: "d.fifo", MaxReceiveCount: 1}, {Name: "d.fifo", FIFO: true}},
		"no maxReceiveCount":        {{Name: "a", DeadLetter: "d"}, {Name: "d"}},
		"cycle":                     {{Name: "a", DeadLetter: "d", MaxReceiveCount: 1}, {Name: "d", DeadLetter: "a", MaxReceiveCount: 1}},
		"duplicate":                 {{Name: "a"}, {Name: "a"}},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := EnsureQueues(t.Context(), b.client, specs)
			require.Error(t, err)
		})
	}
}

func TestDepths(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	q, _ := b.queue(t, 30*time.Second, 0)
	b.send(t, q.URL, "a", "b", "c")
	_, err := b.client.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(q.URL), MessageBody: aws.String("later"), DelaySeconds: 5})
	require.NoError(t, err)
	out, err := b.client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(q.URL), MaxNumberOfMessages: 1})
	require.NoError(t, err)
	require.Len(t, out.Messages, 1)

	d := b.depth(t, q.URL)
	require.Equal(t, 1, d.InFlight)
	require.Equal(t, 1, d.Delayed)
	// local-aws-sqs counts in-flight messages as visible too (real SQS: 2).
	require.Contains(t, []int{2, 3}, d.Visible)
}
