// Package invoke is the contract between the local stack's parts: whatever
// triggers a function (the gateway, the SQS pollers, the S3 relay, the
// scheduler, `redub dev invoke`) calls an Invoker, and the Lambda pools in
// local/lambda implement it.
package invoke

import (
	"context"
	"errors"
	"time"
)

// Result is one invocation's outcome as Lambda reports it.
type Result struct {
	Payload []byte // the handler's JSON answer, or the error document when FunctionError is set
	// FunctionError is set when the handler returned an error or panicked
	// ("Unhandled" in AWS terms); Payload then holds {"errorMessage","errorType"}.
	FunctionError string
	Duration      time.Duration
}

// Errors an Invoker returns besides function errors.
var (
	ErrTimeout         = errors.New("task timed out")                     // the function ran past its Timeout; its environment is replaced
	ErrCrashed         = errors.New("runtime exited")                     // the process died mid-invoke; its environment is replaced
	ErrUnknownFunction = errors.New("no such function in template.yaml")  // the name is not a function of the template
	ErrThrottled       = errors.New("function concurrency limit reached") // every environment is busy and the pool is at its limit
)

// Invoker runs one function by its template logical id (e.g. "HealthFunction").
type Invoker interface {
	Invoke(ctx context.Context, function string, payload []byte) (Result, error)
}
