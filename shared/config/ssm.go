package config

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
)

// SSMGetParametersByPathAPI is the one SSM call NewSSMStore makes;
// *ssm.Client satisfies it.
type SSMGetParametersByPathAPI interface {
	GetParametersByPath(ctx context.Context, params *ssm.GetParametersByPathInput, optFns ...func(*ssm.Options)) (*ssm.GetParametersByPathOutput, error)
}

// NewSSMStore returns a ParameterStore backed by SSM Parameter Store. It reads
// the parameters directly under a path (not recursively), decrypting
// SecureStrings and following every page. Its ParametersByPath returns the
// first SSM error, wrapped.
func NewSSMStore(client SSMGetParametersByPathAPI) ParameterStore {
	return ssmStore{client: client}
}

type ssmStore struct {
	client SSMGetParametersByPathAPI
}

func (s ssmStore) ParametersByPath(ctx context.Context, path string) (map[string]string, error) {
	pages := ssm.NewGetParametersByPathPaginator(s.client, &ssm.GetParametersByPathInput{
		Path:           aws.String(path),
		Recursive:      aws.Bool(false),
		WithDecryption: aws.Bool(true),
	})
	values := make(map[string]string)
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("ssm get parameters by path: %w", err)
		}
		for _, p := range page.Parameters {
			name := aws.ToString(p.Name)
			values[name[strings.LastIndex(name, "/")+1:]] = aws.ToString(p.Value)
		}
	}
	return values, nil
}
