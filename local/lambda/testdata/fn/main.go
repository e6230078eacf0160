// Command fn is a test function whose behaviour the payload picks.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
)

// request says what to do; fields a step does not use are ignored.
type request struct {
	Action string          `json:"action"`
	Ms     int             `json:"ms"`
	Code   int             `json:"code"`
	Msg    string          `json:"msg"`
	Lines  []string        `json:"lines"`
	Keys   []string        `json:"keys"`
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
	case "env":
		out := map[string]string{}
		for _, k := range req.Keys {
			if v, ok := os.LookupEnv(k); ok {
				out[k] = v
			}
		}
		return out, nil
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
	case "errordoc": // exactly the shape of an error document, but returned, not raised
		return map[string]any{"errorMessage": "returned", "errorType": "Returned"}, nil
	case "partial": // writes without a newline, then more
		fmt.Fprint(os.Stdout, strings.Repeat("x", req.Ms))
		return "ok", nil
	}
	return nil, fmt.Errorf("unknown action %q", req.Action)
}

func main() {
	lambda.Start(handle)
}
