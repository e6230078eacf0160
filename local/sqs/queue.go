package sqs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// NewClient returns an SQS client for a local endpoint such as
// Server.Endpoint, with dummy static credentials (the stand-in checks none).
func NewClient(endpoint, region string) *sqs.Client {
	return sqs.New(sqs.Options{
		Region:       region,
		BaseEndpoint: aws.String(endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider("local", "local", ""),
	})
}

// QueueSpec describes one queue. Zero durations and sizes leave the server's
// default.
type QueueSpec struct {
	Name              string // the queue name; FIFO queues end in ".fifo"
	FIFO              bool
	VisibilityTimeout time.Duration // whole seconds, 0-12h
	Retention         time.Duration // MessageRetentionPeriod, whole seconds, 60s-14d
	MaxMessageSize    int           // bytes
	DeadLetter        string        // name of the dead-letter queue, "" for none
	MaxReceiveCount   int           // receives before a message moves to DeadLetter (1-1000)
}

// QueueInfo locates a queue.
type QueueInfo struct {
	URL string
	ARN string
}

// Depth counts a queue's messages, as the server reports them.
type Depth struct {
	Visible  int // ready to be received (ApproximateNumberOfMessages; local-aws-sqs counts InFlight here too)
	InFlight int // received and not yet deleted or returned
	Delayed  int // sent with a delay that has not passed
}

// QueueURL returns the URL that local-aws-sqs gives the queue name on the
// server at endpoint: <endpoint>/<account id>/<name>.
func QueueURL(endpoint, accountID, name string) string {
	return strings.TrimRight(endpoint, "/") + "/" + accountID + "/" + name
}

// EnsureQueues creates the queues in specs, dead-letter queues first, and sets
// their attributes and redrive policies; queues that already exist get their
// attributes updated, so calling it again is harmless. A dead-letter queue
// must be in specs or exist already. It returns each queue's URL and ARN by
// name.
func EnsureQueues(ctx context.Context, c *sqs.Client, specs []QueueSpec) (map[string]QueueInfo, error) {
	order, err := queueOrder(specs)
	if err != nil {
		return nil, err
	}
	out := make(map[string]QueueInfo, len(specs))
	for _, spec := range order {
		attrs := spec.attributes()
		if spec.DeadLetter != "" {
			dlq, ok := out[spec.DeadLetter]
			if !ok {
				if dlq, err = lookupQueue(ctx, c, spec.DeadLetter); err != nil {
					return nil, fmt.Errorf("queue %s: dead-letter queue: %w", spec.Name, err)
				}
			}
			policy, err := json.Marshal(map[string]any{"deadLetterTargetArn": dlq.ARN, "maxReceiveCount": spec.MaxReceiveCount})
			if err != nil {
				return nil, fmt.Errorf("queue %s: redrive policy: %w", spec.Name, err)
			}
			attrs[string(types.QueueAttributeNameRedrivePolicy)] = string(policy)
		}
		info, err := ensureQueue(ctx, c, spec, attrs)
		if err != nil {
			return nil, err
		}
		out[spec.Name] = info
	}
	return out, nil
}

// queueOrder validates specs and sorts them so that every dead-letter queue
// comes before the queues that use it.
func queueOrder(specs []QueueSpec) ([]QueueSpec, error) {
	byName := make(map[string]QueueSpec, len(specs))
	for _, s := range specs {
		if err := s.validate(); err != nil {
			return nil, err
		}
		if _, dup := byName[s.Name]; dup {
			return nil, fmt.Errorf("queue %s: listed twice", s.Name)
		}
		byName[s.Name] = s
	}
	for _, s := range specs {
		if dlq, ok := byName[s.DeadLetter]; ok && dlq.FIFO != s.FIFO {
			return nil, fmt.Errorf("queue %s: dead-letter queue %s must be of the same type (FIFO or standard)", s.Name, s.DeadLetter)
		}
	}
	var order []QueueSpec
	state := map[string]int{} // 1 visiting, 2 done
	var visit func(s QueueSpec) error
	visit = func(s QueueSpec) error {
		switch state[s.Name] {
		case 1:
			return fmt.Errorf("queue %s: dead-letter queues form a cycle", s.Name)
		case 2:
			return nil
		}
		state[s.Name] = 1
		if dlq, ok := byName[s.DeadLetter]; ok {
			if err := visit(dlq); err != nil {
				return err
			}
		}
		state[s.Name] = 2
		order = append(order, s)
		return nil
	}
	for _, s := range specs {
		if err := visit(s); err != nil {
			return nil, err
		}
	}
	return order, nil
}

func (s QueueSpec) validate() error {
	switch {
	case s.Name == "":
		return errors.New("queue spec without a name")
	case s.FIFO != strings.HasSuffix(s.Name, ".fifo"):
		return fmt.Errorf("queue %s: a FIFO queue's name, and only its name, ends in .fifo", s.Name)
	case s.DeadLetter == s.Name:
		return fmt.Errorf("queue %s: is its own dead-letter queue", s.Name)
	case s.DeadLetter != "" && (s.MaxReceiveCount < 1 || s.MaxReceiveCount > 1000):
		return fmt.Errorf("queue %s: maxReceiveCount %d is outside 1-1000", s.Name, s.MaxReceiveCount)
	case s.VisibilityTimeout < 0 || s.VisibilityTimeout > 12*time.Hour:
		return fmt.Errorf("queue %s: visibility timeout %v is outside 0-12h", s.Name, s.VisibilityTimeout)
	case s.Retention != 0 && (s.Retention < time.Minute || s.Retention > 14*24*time.Hour):
		return fmt.Errorf("queue %s: retention %v is outside 1m-14d", s.Name, s.Retention)
	case s.MaxMessageSize < 0:
		return fmt.Errorf("queue %s: negative maximum message size", s.Name)
	}
	return nil
}

// attributes returns the queue attributes of s, except the redrive policy.
func (s QueueSpec) attributes() map[string]string {
	attrs := map[string]string{}
	if s.VisibilityTimeout > 0 {
		attrs[string(types.QueueAttributeNameVisibilityTimeout)] = seconds(s.VisibilityTimeout)
	}
	if s.Retention > 0 {
		attrs[string(types.QueueAttributeNameMessageRetentionPeriod)] = seconds(s.Retention)
	}
	if s.MaxMessageSize > 0 {
		attrs[string(types.QueueAttributeNameMaximumMessageSize)] = strconv.Itoa(s.MaxMessageSize)
	}
	return attrs
}

// ensureQueue creates the queue or, when it exists, updates its attributes:
// CreateQueue on an existing queue fails when any attribute differs.
func ensureQueue(ctx context.Context, c *sqs.Client, spec QueueSpec, attrs map[string]string) (QueueInfo, error) {
	url, err := queueURL(ctx, c, spec.Name)
	if err != nil {
		return QueueInfo{}, fmt.Errorf("queue %s: %w", spec.Name, err)
	}
	if url == "" {
		create := map[string]string{}
		for k, v := range attrs {
			create[k] = v
		}
		if spec.FIFO {
			create[string(types.QueueAttributeNameFifoQueue)] = "true"
		}
		out, err := c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(spec.Name), Attributes: create})
		if err != nil {
			return QueueInfo{}, fmt.Errorf("create queue %s: %w", spec.Name, err)
		}
		url = aws.ToString(out.QueueUrl)
	} else if len(attrs) > 0 {
		if _, err := c.SetQueueAttributes(ctx, &sqs.SetQueueAttributesInput{QueueUrl: aws.String(url), Attributes: attrs}); err != nil {
			return QueueInfo{}, fmt.Errorf("set attributes of queue %s: %w", spec.Name, err)
		}
	}
	arn, err := queueARN(ctx, c, url)
	if err != nil {
		return QueueInfo{}, fmt.Errorf("queue %s: %w", spec.Name, err)
	}
	return QueueInfo{URL: url, ARN: arn}, nil
}

// lookupQueue finds an existing queue by name.
func lookupQueue(ctx context.Context, c *sqs.Client, name string) (QueueInfo, error) {
	url, err := queueURL(ctx, c, name)
	if err != nil {
		return QueueInfo{}, err
	}
	if url == "" {
		return QueueInfo{}, fmt.Errorf("queue %s does not exist", name)
	}
	arn, err := queueARN(ctx, c, url)
	if err != nil {
		return QueueInfo{}, err
	}
	return QueueInfo{URL: url, ARN: arn}, nil
}

// queueURL returns the URL of the queue name, or "" when there is none.
func queueURL(ctx context.Context, c *sqs.Client, name string) (string, error) {
	out, err := c.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(name)})
	var missing *types.QueueDoesNotExist
	if errors.As(err, &missing) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("get queue url: %w", err)
	}
	return aws.ToString(out.QueueUrl), nil
}

func queueARN(ctx context.Context, c *sqs.Client, url string) (string, error) {
	out, err := c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl:       aws.String(url),
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameQueueArn},
	})
	if err != nil {
		return "", fmt.Errorf("get queue arn: %w", err)
	}
	arn := out.Attributes[string(types.QueueAttributeNameQueueArn)]
	if arn == "" {
		return "", fmt.Errorf("get queue arn: %s has no QueueArn attribute", url)
	}
	return arn, nil
}

// Depths returns the message counts of each queue in urls (name -> URL), by
// the same names. It fails on the first queue it cannot read.
func Depths(ctx context.Context, c *sqs.Client, urls map[string]string) (map[string]Depth, error) {
	out := make(map[string]Depth, len(urls))
	for name, url := range urls {
		res, err := c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
			QueueUrl: aws.String(url),
			AttributeNames: []types.QueueAttributeName{
				types.QueueAttributeNameApproximateNumberOfMessages,
				types.QueueAttributeNameApproximateNumberOfMessagesNotVisible,
				types.QueueAttributeNameApproximateNumberOfMessagesDelayed,
			},
		})
		if err != nil {
			return nil, fmt.Errorf("depth of queue %s: %w", name, err)
		}
		count := func(a types.QueueAttributeName) int {
			n, _ := strconv.Atoi(res.Attributes[string(a)])
			return n
		}
		out[name] = Depth{
			Visible:  count(types.QueueAttributeNameApproximateNumberOfMessages),
			InFlight: count(types.QueueAttributeNameApproximateNumberOfMessagesNotVisible),
			Delayed:  count(types.QueueAttributeNameApproximateNumberOfMessagesDelayed),
		}
	}
	return out, nil
}

// seconds renders d in whole seconds, rounding up: SQS has no finer unit.
func seconds(d time.Duration) string {
	return strconv.FormatInt(int64((d+time.Second-1)/time.Second), 10)
}
