package lambda

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
)

// The bodies are RIE's answers as recorded (stack traces shortened).
func TestClassify(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		status int
		header http.Header
		body   string
		want   verdict
	}{
		{"answer", 200, nil, `{"statusCode":200,"body":"ok"}`, verdict{kind: kindOK}},
		{"string answer", 200, nil, `"hello"`, verdict{kind: kindOK}},
		{"empty answer", 200, nil, ``, verdict{kind: kindOK}},
		{"null answer", 200, nil, `null`, verdict{kind: kindOK}},
		{
			"returned error", 200, nil, `{"errorMessage":"boom","errorType":"customError"}`,
			verdict{kind: kindFunctionError, errorType: "customError"},
		},
		{
			"error without a type", 200, nil, `{"errorMessage":"boom"}`,
			verdict{kind: kindFunctionError, errorType: "Unhandled"},
		},
		{
			"python error", 200, nil, `{"errorMessage":"x","errorType":"KeyError","requestId":"r1","stackTrace":["a"]}`,
			verdict{kind: kindFunctionError, errorType: "KeyError"},
		},
		{
			"answer with error-like fields", 200, nil, `{"errorMessage":"not an error","errorType":"Fake","ok":true}`,
			verdict{kind: kindOK},
		},
		{"errorType only", 200, nil, `{"errorType":"x"}`, verdict{kind: kindOK}},
		{"errorMessage not a string", 200, nil, `{"errorMessage":1}`, verdict{kind: kindOK}},
		{
			"header", 200, http.Header{"X-Amz-Function-Error": {"Unhandled"}}, `{"message":"x"}`,
			verdict{kind: kindFunctionError, errorType: "Unhandled"},
		},
		{
			"header and document", 200, http.Header{"X-Amz-Function-Error": {"Unhandled"}}, `{"errorMessage":"x","errorType":"E"}`,
			verdict{kind: kindFunctionError, errorType: "E"},
		},
		{
			"panic", 502, nil,
			`{"errorMessage":"aaah","errorType":"string","stackTrace":[{"path":"fn/main.go","line":49,"label":"handle"}]}`,
			verdict{kind: kindFunctionError, errorType: "string", replace: true},
		},
		{
			"exit mid-invoke", 502, nil,
			`{"errorType":"Runtime.ExitError","errorMessage":"RequestId: db12353b-709f-4ba0-ad88-cdd3a62b6b96 Error: Runtime exited with error: exit status 3"}`,
			verdict{kind: kindCrash, message: "RequestId: db12353b-709f-4ba0-ad88-cdd3a62b6b96 Error: Runtime exited with error: exit status 3", replace: true},
		},
		{"exit during init", 502, nil, ``, verdict{kind: kindCrash, replace: true}},
		{
			"other failure", 500, nil, `oops`,
			verdict{kind: kindCrash, message: "aws-lambda-rie answered Internal Server Error: oops", replace: true},
		},
		{"timeout", 200, nil, `Task timed out after 3.00 seconds`, verdict{kind: kindTimeout, replace: true}},
		{"quoted timeout text", 200, nil, `"Task timed out after 3.00 seconds"`, verdict{kind: kindOK}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			header := tc.header
			if header == nil {
				header = http.Header{}
			}
			require.Equal(t, tc.want, classify(tc.status, header, []byte(tc.body)))
		})
	}
}
