// Package queue wraps SQS: the client, the message envelope and sending.
package queue

import (
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

// NewClient returns an SQS client. A local stand-in is named by the SDK's own
// variable AWS_ENDPOINT_URL_SQS, read through getenv.
func NewClient(cfg aws.Config, getenv func(string) string) *sqs.Client {
	endpoint := getenv("AWS_ENDPOINT_URL_SQS")
	return sqs.NewFromConfig(cfg, func(o *sqs.Options) {
		if endpoint != "" {
			o.BaseEndpoint = &endpoint
		}
	})
}
