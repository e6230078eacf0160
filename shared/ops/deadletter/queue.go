package deadletter

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// Finder is the SQS calls that find queues and read their depth.
type Finder interface {
	ListQueues(ctx context.Context, in *sqs.ListQueuesInput, opts ...func(*sqs.Options)) (*sqs.ListQueuesOutput, error)
	GetQueueUrl(ctx context.Context, in *sqs.GetQueueUrlInput, opts ...func(*sqs.Options)) (*sqs.GetQueueUrlOutput, error)
	GetQueueAttributes(ctx context.Context, in *sqs.GetQueueAttributesInput, opts ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error)
	ListDeadLetterSourceQueues(ctx context.Context, in *sqs.ListDeadLetterSourceQueuesInput, opts ...func(*sqs.Options)) (*sqs.ListDeadLetterSourceQueuesOutput, error)
}

// ErrNotFound means no queue, or no dead-letter pair, matches a reference.
var ErrNotFound = errors.New("queue not found")

// ErrAmbiguous means a reference matches more than one queue pair.
var ErrAmbiguous = errors.New("queue reference is ambiguous")

// Queue is one SQS queue.
type Queue struct {
	Name string
	URL  string
	ARN  string
}

// Pair is a source queue and the dead-letter queue its redrive policy names.
type Pair struct {
	Source          Queue
	DeadLetter      Queue
	MaxReceiveCount int
}

// Depth counts a queue's messages as the endpoint reports them (the local
// stand-in counts in-flight messages in Visible as well).
type Depth struct {
	Visible  int // ApproximateNumberOfMessages
	InFlight int // ApproximateNumberOfMessagesNotVisible
	Delayed  int // ApproximateNumberOfMessagesDelayed
}

// Discover returns every pair of a queue with a redrive policy and its
// dead-letter queue among the queues whose names start with prefix ("" for
// all), sorted by dead-letter queue, then source. A dead-letter queue outside
// the prefix is still found, by the ARN the policy names. It fails on the
// first queue it cannot list or read.
func Discover(ctx context.Context, c Finder, prefix string) ([]Pair, error) {
	urls, err := listQueues(ctx, c, prefix)
	if err != nil {
		return nil, err
	}
	type info struct {
		q      Queue
		policy redrivePolicy
	}
	byARN := map[string]Queue{}
	infos := make([]info, 0, len(urls))
	for _, u := range urls {
		q, policy, err := describe(ctx, c, u)
		if err != nil {
			return nil, err
		}
		byARN[q.ARN] = q
		infos = append(infos, info{q, policy})
	}
	var pairs []Pair
	for _, in := range infos {
		if in.policy.TargetARN == "" {
			continue
		}
		dlq, ok := byARN[in.policy.TargetARN]
		if !ok {
			if dlq, err = queueByARN(ctx, c, in.policy.TargetARN); err != nil {
				return nil, fmt.Errorf("dead-letter queue of %s: %w", in.q.Name, err)
			}
		}
		pairs = append(pairs, Pair{Source: in.q, DeadLetter: dlq, MaxReceiveCount: in.policy.MaxReceiveCount})
	}
	sort.Slice(pairs, func(i, j int) bool {
		if pairs[i].DeadLetter.Name != pairs[j].DeadLetter.Name {
			return pairs[i].DeadLetter.Name < pairs[j].DeadLetter.Name
		}
		return pairs[i].Source.Name < pairs[j].Source.Name
	})
	return pairs, nil
}

// Resolve finds the pair that ref names. ref is a queue URL (of the source or
// of the dead-letter queue; resolved through its attributes, without listing
// queues), or a queue name or template logical id of either queue, looked up
// among the queues Discover finds under prefix. A name matches exactly, or as
// CloudFormation's <stack>-<LogicalId>-<suffix>. It returns an error wrapping
// ErrNotFound when nothing matches and ErrAmbiguous when several pairs do.
func Resolve(ctx context.Context, c Finder, ref, prefix string) (Pair, error) {
	if strings.HasPrefix(ref, "https://") || strings.HasPrefix(ref, "http://") {
		return resolveURL(ctx, c, ref)
	}
	pairs, err := Discover(ctx, c, prefix)
	if err != nil {
		return Pair{}, err
	}
	for _, exact := range []bool{true, false} {
		var found []Pair
		for _, p := range pairs {
			if nameMatches(p.Source.Name, ref, exact) || nameMatches(p.DeadLetter.Name, ref, exact) {
				found = append(found, p)
			}
		}
		switch len(found) {
		case 0:
			continue
		case 1:
			return found[0], nil
		}
		names := make([]string, len(found))
		for i, p := range found {
			names[i] = p.Source.Name + " -> " + p.DeadLetter.Name
		}
		return Pair{}, fmt.Errorf("%w: %q matches %s; name the source queue or give its URL", ErrAmbiguous, ref, strings.Join(names, ", "))
	}
	return Pair{}, fmt.Errorf("%w: no queue with a dead-letter queue matches %q (by name or logical id)", ErrNotFound, ref)
}

// nameMatches reports whether the queue name is ref, exactly (a FIFO queue's
// ".fifo" aside), or as CloudFormation names a queue of logical id ref.
func nameMatches(name, ref string, exact bool) bool {
	if exact {
		return name == ref || name == ref+".fifo"
	}
	return strings.Contains(name, "-"+ref+"-") || strings.HasSuffix(name, "-"+ref) || strings.HasSuffix(name, "-"+ref+".fifo")
}

// resolveURL resolves a pair from either of its queues' URL.
func resolveURL(ctx context.Context, c Finder, url string) (Pair, error) {
	q, policy, err := describe(ctx, c, url)
	if err != nil {
		return Pair{}, err
	}
	if policy.TargetARN != "" {
		dlq, err := queueByARN(ctx, c, policy.TargetARN)
		if err != nil {
			return Pair{}, fmt.Errorf("dead-letter queue of %s: %w", q.Name, err)
		}
		return Pair{Source: q, DeadLetter: dlq, MaxReceiveCount: policy.MaxReceiveCount}, nil
	}
	out, err := c.ListDeadLetterSourceQueues(ctx, &sqs.ListDeadLetterSourceQueuesInput{QueueUrl: aws.String(url)})
	if err != nil {
		return Pair{}, fmt.Errorf("list source queues of %s: %w", q.Name, err)
	}
	switch len(out.QueueUrls) {
	case 0:
		return Pair{}, fmt.Errorf("%w: %s has no redrive policy and is no queue's dead-letter queue", ErrNotFound, q.Name)
	case 1:
	default:
		return Pair{}, fmt.Errorf("%w: %s is the dead-letter queue of %d queues (%s); give the source queue's URL",
			ErrAmbiguous, q.Name, len(out.QueueUrls), strings.Join(out.QueueUrls, ", "))
	}
	src, srcPolicy, err := describe(ctx, c, out.QueueUrls[0])
	if err != nil {
		return Pair{}, err
	}
	return Pair{Source: src, DeadLetter: q, MaxReceiveCount: srcPolicy.MaxReceiveCount}, nil
}

// QueueDepth returns the message counts of the queue at url, or the error of
// the call that reads them.
func QueueDepth(ctx context.Context, c Finder, url string) (Depth, error) {
	out, err := c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(url),
		AttributeNames: []types.QueueAttributeName{
			types.QueueAttributeNameApproximateNumberOfMessages,
			types.QueueAttributeNameApproximateNumberOfMessagesNotVisible,
			types.QueueAttributeNameApproximateNumberOfMessagesDelayed,
		},
	})
	if err != nil {
		return Depth{}, fmt.Errorf("depth of %s: %w", url, err)
	}
	count := func(a types.QueueAttributeName) int {
		n, _ := strconv.Atoi(out.Attributes[string(a)])
		return n
	}
	return Depth{
		Visible:  count(types.QueueAttributeNameApproximateNumberOfMessages),
		InFlight: count(types.QueueAttributeNameApproximateNumberOfMessagesNotVisible),
		Delayed:  count(types.QueueAttributeNameApproximateNumberOfMessagesDelayed),
	}, nil
}

func listQueues(ctx context.Context, c Finder, prefix string) ([]string, error) {
	var urls []string
	in := &sqs.ListQueuesInput{MaxResults: aws.Int32(1000)}
	if prefix != "" {
		in.QueueNamePrefix = aws.String(prefix)
	}
	for {
		out, err := c.ListQueues(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("list queues: %w", err)
		}
		urls = append(urls, out.QueueUrls...)
		if aws.ToString(out.NextToken) == "" {
			return urls, nil
		}
		in.NextToken = out.NextToken
	}
}

// redrivePolicy is a queue's RedrivePolicy attribute.
type redrivePolicy struct {
	TargetARN       string
	MaxReceiveCount int
}

// describe reads a queue's ARN and redrive policy.
func describe(ctx context.Context, c Finder, url string) (Queue, redrivePolicy, error) {
	out, err := c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl:       aws.String(url),
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameQueueArn, types.QueueAttributeNameRedrivePolicy},
	})
	if err != nil {
		return Queue{}, redrivePolicy{}, fmt.Errorf("attributes of %s: %w", url, err)
	}
	q := Queue{URL: url, ARN: out.Attributes[string(types.QueueAttributeNameQueueArn)]}
	q.Name = nameOf(url)
	var policy redrivePolicy
	if raw := out.Attributes[string(types.QueueAttributeNameRedrivePolicy)]; raw != "" {
		// maxReceiveCount is a number in SQS's answer, but a string where a
		// template or older tool wrote it as one.
		var p struct {
			TargetARN string          `json:"deadLetterTargetArn"`
			Max       json.RawMessage `json:"maxReceiveCount"`
		}
		if err := json.Unmarshal([]byte(raw), &p); err != nil {
			return Queue{}, redrivePolicy{}, fmt.Errorf("redrive policy of %s: %w", q.Name, err)
		}
		policy.TargetARN = p.TargetARN
		policy.MaxReceiveCount, _ = strconv.Atoi(strings.Trim(string(p.Max), `"`))
	}
	return q, policy, nil
}

// queueByARN finds a queue by its ARN, arn:<partition>:sqs:<region>:<account>:<name>.
func queueByARN(ctx context.Context, c Finder, arn string) (Queue, error) {
	parts := strings.Split(arn, ":")
	if len(parts) != 6 || parts[2] != "sqs" {
		return Queue{}, fmt.Errorf("%q is not an SQS queue ARN", arn)
	}
	in := &sqs.GetQueueUrlInput{QueueName: aws.String(parts[5])}
	if parts[4] != "" {
		in.QueueOwnerAWSAccountId = aws.String(parts[4])
	}
	out, err := c.GetQueueUrl(ctx, in)
	if err != nil {
		var missing *types.QueueDoesNotExist
		if errors.As(err, &missing) {
			return Queue{}, fmt.Errorf("%w: %s", ErrNotFound, arn)
		}
		return Queue{}, fmt.Errorf("queue url of %s: %w", arn, err)
	}
	return Queue{Name: parts[5], URL: aws.ToString(out.QueueUrl), ARN: arn}, nil
}

// nameOf is the queue name at the end of a queue URL.
func nameOf(url string) string {
	return url[strings.LastIndexByte(url, '/')+1:]
}
