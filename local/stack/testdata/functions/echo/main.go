// Command echo answers with what it received, for the local stack's tests.
package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
)

func main() {
	lambda.Start(func(_ context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		if ev.RawPath == "/slow" {
			time.Sleep(10 * time.Second) // past the function's 2 s timeout
		}
		if ev.PathParameters["id"] == "binary" {
			return events.APIGatewayV2HTTPResponse{
				StatusCode: 200, Headers: map[string]string{"Content-Type": "application/octet-stream"},
				Body: base64.StdEncoding.EncodeToString([]byte{0, 1, 2, 0xfe, 0xff}), IsBase64Encoded: true,
			}, nil
		}
		if ev.PathParameters["id"] == "boom" {
			panic("boom")
		}
		seen, _ := json.Marshal(map[string]any{"event": ev, "function": os.Getenv("AWS_LAMBDA_FUNCTION_NAME"),
			"env": map[string]string{"STAGE": os.Getenv("STAGE"), "UPLOADS_BUCKET": os.Getenv("UPLOADS_BUCKET"),
				"WORK_QUEUE_ARN": os.Getenv("WORK_QUEUE_ARN"), "SSM_PATH": os.Getenv("SSM_PATH"),
				"AWS_ENDPOINT_URL_SQS": os.Getenv("AWS_ENDPOINT_URL_SQS")}})
		return events.APIGatewayV2HTTPResponse{
			StatusCode: 201,
			Headers:    map[string]string{"Content-Type": "application/json", "X-Echo": "yes"},
			Cookies:    []string{"session=abc; Path=/; HttpOnly", "theme=dark"},
			Body:       string(seen),
		}, nil
	})
}
