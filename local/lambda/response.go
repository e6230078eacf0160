package lambda

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/redub/redub/local/invoke"
)

// kind is how an invoke ended.
type kind int

const (
	kindOK            kind = iota
	kindFunctionError      // the handler returned an error or panicked
	kindTimeout
	kindCrash     // the process died before answering
	kindCancelled // the caller's context ended
)

// outcome is an invoke's result plus what the pool must do about it.
type outcome struct {
	result  invoke.Result
	err     error
	kind    kind
	replace bool // the environment must not serve another invoke
}

// verdict is what an RIE answer means.
type verdict struct {
	kind      kind
	errorType string // for kindFunctionError
	message   string // for kindCrash: RIE's errorMessage, if any
	replace   bool
}

// runtimeExitError is the errorType RIE reports when the function's process
// exits before it answers.
const runtimeExitError = "Runtime.ExitError"

// classify reads an RIE answer (see the package doc for the cases).
func classify(status int, header http.Header, body []byte) verdict {
	if status == http.StatusOK && bytes.HasPrefix(body, []byte("Task timed out after ")) {
		// No JSON document starts with a capital T, so this is RIE's own text.
		return verdict{kind: kindTimeout, replace: true}
	}
	doc, isDoc := parseErrorDoc(body)
	// RIE drops the runtime's error headers, but a later version, or another
	// emulator behind the same URL, may send Lambda's.
	if fe := header.Get("X-Amz-Function-Error"); fe != "" && !isDoc {
		doc, isDoc = errorDoc{Type: fe}, true
	}
	switch {
	case isDoc && doc.Type == runtimeExitError:
		return verdict{kind: kindCrash, message: doc.Message, replace: true}
	case isDoc:
		// Not 200: the runtime reported a panic and exited.
		return verdict{kind: kindFunctionError, errorType: doc.functionError(), replace: status != http.StatusOK}
	case status == http.StatusOK:
		return verdict{kind: kindOK}
	case len(bytes.TrimSpace(body)) == 0:
		return verdict{kind: kindCrash, replace: true}
	default:
		return verdict{kind: kindCrash, message: "aws-lambda-rie answered " + http.StatusText(status) + ": " + abbreviate(string(body)), replace: true}
	}
}

// errorDoc is the error document a runtime posts for a failed invoke.
type errorDoc struct {
	Type    string
	Message string
}

func (d errorDoc) functionError() string {
	if d.Type == "" {
		return "Unhandled"
	}
	return d.Type
}

// errorDocFields are the fields runtimes put in an error document: Go's
// errorMessage, errorType and stackTrace, Node's trace, Python's requestId,
// and cause.
var errorDocFields = map[string]bool{
	"errorMessage": true, "errorType": true, "stackTrace": true, "trace": true, "requestId": true, "cause": true,
}

// parseErrorDoc reports whether body is an error document: a JSON object with
// a string errorMessage and no fields but those of errorDocFields. A handler's
// answer with any other field is not one.
func parseErrorDoc(body []byte) (errorDoc, bool) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '{' {
		return errorDoc{}, false
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil {
		return errorDoc{}, false
	}
	for name := range fields {
		if !errorDocFields[name] {
			return errorDoc{}, false
		}
	}
	var doc struct {
		Message *string `json:"errorMessage"`
		Type    *string `json:"errorType"`
	}
	if err := json.Unmarshal(body, &doc); err != nil || doc.Message == nil {
		return errorDoc{}, false
	}
	d := errorDoc{Message: *doc.Message}
	if doc.Type != nil {
		d.Type = *doc.Type
	}
	return d, true
}

// abbreviate shortens s for an error message.
func abbreviate(s string) string {
	s = strings.TrimSpace(s)
	const limit = 300
	if len(s) > limit {
		return s[:limit] + "..."
	}
	return s
}
