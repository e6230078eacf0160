// Command fn is a test function whose behaviour the payload picks.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
)

// request says what to do: echo body, sleep (or spin, ignoring the context)
// ms milliseconds, return an error or panic with msg, exit with code, kill
// itself, return its environment, or print lines (to stdout and stderr in
// turn).
type request struct {
	Action string          `json:"action"`
	Ms     int             `json:"ms"`
	Code   int             `json:"code"`
	Msg    string          `json:"msg"`
	Lines  []string        `json:"lines"`
	Body   json.RawMessage `json:"body"`
}

type customError struct{ msg string }

func (e *customError) Error() string { return e.msg }

func handle(ctx context.Context, req request) (any, error) {
	switch req.Action {
	case "echo":
		return req.Body, nil
	case "sleep":
		select {
		case <-time.After(time.Duration(req.Ms) * time.Millisecond):
		case <-ctx.Done():
		}
		return map[string]string{"slept": fmt.Sprint(req.Ms)}, nil
	case "spin": // ignores the context, like a handler stuck in a loop
		time.Sleep(time.Duration(req.Ms) * time.Millisecond)
		return map[string]string{"slept": fmt.Sprint(req.Ms)}, nil
	case "error":
		return nil, &customError{msg: req.Msg}
	case "plainerror":
		return nil, errors.New(req.Msg)
	case "panic":
		panic(req.Msg)
	case "exit":
		os.Exit(req.Code)
	case "kill":
		p, _ := os.FindProcess(os.Getpid())
		_ = p.Kill()
		time.Sleep(time.Second)
	case "environ":
		return os.Environ(), nil
	case "print":
		for i, l := range req.Lines {
			if i%2 == 0 {
				fmt.Fprintln(os.Stdout, l)
			} else {
				fmt.Fprintln(os.Stderr, l)
			}
		}
		return len(req.Lines), nil
	case "errorish": // a legitimate answer that looks like an error document
		return map[string]any{"errorMessage": "not an error", "errorType": "Fake", "ok": true}, nil
	}
	return nil, fmt.Errorf("unknown action %q", req.Action)
}

func main() {
	lambda.Start(handle)
}
