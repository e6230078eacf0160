package storage

import (
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// NewClient returns an S3 client. A local stand-in (versitygw) is named by
// the SDK's own variable AWS_ENDPOINT_URL_S3, read through getenv, and needs
// path-style addressing.
func NewClient(cfg aws.Config, getenv func(string) string) *s3.Client {
	endpoint := getenv("AWS_ENDPOINT_URL_S3")
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		if endpoint != "" {
			o.BaseEndpoint = &endpoint
			o.UsePathStyle = true
		}
	})
}
