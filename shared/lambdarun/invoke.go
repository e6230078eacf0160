package lambdarun

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

// Invoke runs handler on a JSON payload through the same decode and encode
// path lambda.Start uses, for in-process tests of a function.
func Invoke(ctx context.Context, requestID string, handler any, payload []byte) ([]byte, error) {
	lc := &lambdacontext.LambdaContext{AwsRequestID: requestID}
	return lambda.NewHandler(handler).Invoke(lambdacontext.NewContext(ctx, lc), payload)
}
