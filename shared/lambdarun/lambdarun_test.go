package lambdarun_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/stretchr/testify/require"

	"github.com/redub/redub/shared/config"
	"github.com/redub/redub/shared/lambdarun"
	"github.com/redub/redub/shared/obs"
	"github.com/redub/redub/shared/queue"
)

func env(kv map[string]string) func(string) string {
	base := map[string]string{
		"STAGE":          "development",
		"DATABASE_URL":   "postgres://redub@127.0.0.1:1/redub?sslmode=disable",
		"STORAGE_BUCKET": "redub-test",
	}
	for k, v := range kv {
		base[k] = v
	}
	return func(k string) string { return base[k] }
}

func build(t *testing.T, setup lambdarun.Setup) (*lambdarun.App, any, *bytes.Buffer) {
	t.Helper()
	var logs bytes.Buffer
	app, h, err := lambdarun.Build(t.Context(), "test-fn", env(nil), &logs, setup)
	require.NoError(t, err)
	return app, h, &logs
}

func TestBuildConfigErrorNamesVariable(t *testing.T) {
	t.Parallel()
	_, _, err := lambdarun.Build(t.Context(), "fn", env(map[string]string{"STAGE": "staging", "AUTH_URL": "https://app.redub.dev"}), io.Discard,
		func(context.Context, *lambdarun.App) (any, error) { return nil, nil })
	require.Error(t, err)
	var ve *config.VarError
	require.ErrorAs(t, err, &ve)
	require.Contains(t, err.Error(), "AUTH_SECRET")
}

func TestBuildSetupErrorNamesFunction(t *testing.T) {
	t.Parallel()
	_, _, err := lambdarun.Build(t.Context(), "fn", env(nil), io.Discard,
		func(context.Context, *lambdarun.App) (any, error) { return nil, errors.New("no queue") })
	require.ErrorContains(t, err, "set up fn: no queue")
}

func TestHTTPAdapterMapsEventAndResponse(t *testing.T) {
	t.Parallel()
	var seen *http.Request
	var seenBody []byte
	_, h, logs := build(t, func(_ context.Context, app *lambdarun.App) (any, error) {
		return lambdarun.HTTP(app, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			seen = r
			seenBody, _ = io.ReadAll(r.Body)
			app.Log.InfoContext(r.Context(), "inside")
			http.SetCookie(w, &http.Cookie{Name: "a", Value: "1", HttpOnly: true})
			http.SetCookie(w, &http.Cookie{Name: "b", Value: "2"})
			w.Header().Set("Content-Type", "image/png")
			w.WriteHeader(201)
			_, _ = w.Write([]byte{0x89, 'P', 'N', 'G', 0, 1, 2, 0xff})
		})), nil
	})
	ev := events.APIGatewayV2HTTPRequest{
		RawPath:         "/assets/abc/download",
		RawQueryString:  "x=1&y=two%20words",
		Cookies:         []string{"s=tok", "t=2"},
		Headers:         map[string]string{"content-type": "application/octet-stream", "host": "api.example.com", "x-custom": "v"},
		PathParameters:  map[string]string{"id": "abc"},
		Body:            base64.StdEncoding.EncodeToString([]byte{0, 1, 2, 3}),
		IsBase64Encoded: true,
	}
	ev.RequestContext.HTTP.Method = "POST"
	ev.RequestContext.HTTP.SourceIP = "198.51.100.7"
	ev.RequestContext.RequestID = "req-42"
	payload, _ := json.Marshal(ev)
	out, err := lambdarun.Invoke(t.Context(), "inv-1", h, payload)
	require.NoError(t, err)

	require.Equal(t, "POST", seen.Method)
	require.Equal(t, "/assets/abc/download", seen.URL.Path)
	require.Equal(t, "two words", seen.URL.Query().Get("y"))
	require.Equal(t, "abc", seen.PathValue("id"))
	require.Equal(t, "v", seen.Header.Get("X-Custom"))
	require.Equal(t, "api.example.com", seen.Host)
	require.Equal(t, "198.51.100.7", seen.RemoteAddr)
	c, err := seen.Cookie("s")
	require.NoError(t, err)
	require.Equal(t, "tok", c.Value)
	require.Equal(t, []byte{0, 1, 2, 3}, seenBody)

	var res events.APIGatewayV2HTTPResponse
	require.NoError(t, json.Unmarshal(out, &res))
	require.Equal(t, 201, res.StatusCode)
	require.True(t, res.IsBase64Encoded)
	body, _ := base64.StdEncoding.DecodeString(res.Body)
	require.Equal(t, []byte{0x89, 'P', 'N', 'G', 0, 1, 2, 0xff}, body)
	require.ElementsMatch(t, []string{"a=1; HttpOnly", "b=2"}, res.Cookies)
	require.Contains(t, logs.String(), `"request_id":"req-42"`, "log lines carry the request id")
}

func TestHTTPAdapterPanicIsProblem(t *testing.T) {
	t.Parallel()
	_, h, logs := build(t, func(_ context.Context, app *lambdarun.App) (any, error) {
		return lambdarun.HTTP(app, http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("kaboom secret") })), nil
	})
	ev := events.APIGatewayV2HTTPRequest{RawPath: "/me"}
	ev.RequestContext.HTTP.Method = "GET"
	ev.RequestContext.RequestID = "req-p"
	payload, _ := json.Marshal(ev)
	out, err := lambdarun.Invoke(t.Context(), "inv", h, payload)
	require.NoError(t, err)
	var res events.APIGatewayV2HTTPResponse
	require.NoError(t, json.Unmarshal(out, &res))
	require.Equal(t, 500, res.StatusCode)
	require.Equal(t, "application/problem+json", res.Headers["Content-Type"])
	require.NotContains(t, res.Body, "kaboom")
	require.NotContains(t, res.Body, "goroutine")
	require.Contains(t, res.Body, "req-p")
	require.Contains(t, logs.String(), "kaboom secret", "the panic is logged for operators")
}

func TestSQSAdapterReportsOnlyFailedMessages(t *testing.T) {
	t.Parallel()
	var got []string
	_, h, _ := build(t, func(_ context.Context, app *lambdarun.App) (any, error) {
		return lambdarun.SQS(app, func(ctx context.Context, m events.SQSMessage) error {
			got = append(got, obs.Fields(ctx)[obs.RequestID])
			switch m.Body {
			case "bad":
				return errors.New("bad message")
			case "panic":
				panic("oops")
			}
			return nil
		}), nil
	})
	ev := events.SQSEvent{Records: []events.SQSMessage{
		{MessageId: "m1", Body: "ok"}, {MessageId: "m2", Body: "bad"}, {MessageId: "m3", Body: "panic"}, {MessageId: "m4", Body: "ok"},
	}}
	payload, _ := json.Marshal(ev)
	out, err := lambdarun.Invoke(t.Context(), "inv", h, payload)
	require.NoError(t, err)
	var res events.SQSEventResponse
	require.NoError(t, json.Unmarshal(out, &res))
	require.Equal(t, []events.SQSBatchItemFailure{{ItemIdentifier: "m2"}, {ItemIdentifier: "m3"}}, res.BatchItemFailures)
	require.Equal(t, []string{"m1", "m2", "m3", "m4"}, got)
}

func TestS3AndScheduledAdapters(t *testing.T) {
	t.Parallel()
	var keys []string
	_, h, _ := build(t, func(_ context.Context, app *lambdarun.App) (any, error) {
		return lambdarun.S3(app, func(_ context.Context, rec events.S3EventRecord) error {
			keys = append(keys, rec.S3.Object.Key)
			if rec.S3.Object.Key == "bad" {
				return errors.New("nope")
			}
			return nil
		}), nil
	})
	ev := events.S3Event{Records: []events.S3EventRecord{{}, {}}}
	ev.Records[0].S3.Object.Key = "bad"
	ev.Records[1].S3.Object.Key = "good"
	payload, _ := json.Marshal(ev)
	_, err := lambdarun.Invoke(t.Context(), "inv", h, payload)
	require.Error(t, err)
	require.Equal(t, []string{"bad", "good"}, keys, "every record is tried")

	fired := 0
	_, h2, _ := build(t, func(_ context.Context, app *lambdarun.App) (any, error) {
		return lambdarun.Scheduled(app, func(_ context.Context, ev events.EventBridgeEvent) error {
			fired++
			require.Equal(t, "Scheduled Event", ev.DetailType)
			return nil
		}), nil
	})
	_, err = lambdarun.Invoke(t.Context(), "inv", h2, []byte(`{"id":"e1","detail-type":"Scheduled Event","source":"aws.events","detail":{}}`))
	require.NoError(t, err)
	require.Equal(t, 1, fired)
}

func TestDBIsLazy(t *testing.T) {
	t.Parallel()
	app, _, _ := build(t, func(context.Context, *lambdarun.App) (any, error) { return nil, nil })
	db, err := app.DB()
	require.NoError(t, err, "creating the pool does no I/O, so a closed port is fine here")
	err = db.Ping(t.Context())
	require.Error(t, err, "the first query reaches the (closed) database")
	app.Close()
}

type visibilityRecorder struct {
	in []*sqs.ChangeMessageVisibilityInput
}

func (v *visibilityRecorder) ChangeMessageVisibility(_ context.Context, in *sqs.ChangeMessageVisibilityInput, _ ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityOutput, error) {
	v.in = append(v.in, in)
	return &sqs.ChangeMessageVisibilityOutput{}, nil
}

func TestSQSAdapterHandsFailedMessagesBackWithABackoff(t *testing.T) {
	t.Parallel()
	rec := &visibilityRecorder{}
	var logs bytes.Buffer
	url := "http://127.0.0.1:1/123456789012/redub-dev-transcode"
	_, h, err := lambdarun.Build(t.Context(), "test-fn", env(map[string]string{"TRANSCODE_QUEUE_URL": url}), &logs,
		func(_ context.Context, app *lambdarun.App) (any, error) {
			app.SetVisibilityChanger(rec)
			return lambdarun.SQS(app, func(_ context.Context, m events.SQSMessage) error {
				switch m.Body {
				case "rate-limited":
					return fmt.Errorf("provider: %w", queue.Retry(3*time.Second, errors.New("429")))
				case "broken":
					return errors.New("database unreachable")
				}
				return nil
			}), nil
		})
	require.NoError(t, err)
	arn := "arn:aws:sqs:us-east-1:123456789012:redub-dev-transcode"
	ev := events.SQSEvent{Records: []events.SQSMessage{
		{MessageId: "m1", Body: "rate-limited", ReceiptHandle: "r1", EventSourceARN: arn, Attributes: map[string]string{"ApproximateReceiveCount": "1"}},
		{MessageId: "m2", Body: "broken", ReceiptHandle: "r2", EventSourceARN: arn, Attributes: map[string]string{"ApproximateReceiveCount": "2"}},
		{MessageId: "m3", Body: "ok", ReceiptHandle: "r3", EventSourceARN: arn},
	}}
	payload, _ := json.Marshal(ev)
	out, err := lambdarun.Invoke(t.Context(), "inv", h, payload)
	require.NoError(t, err)
	var res events.SQSEventResponse
	require.NoError(t, json.Unmarshal(out, &res))
	require.Equal(t, []events.SQSBatchItemFailure{{ItemIdentifier: "m1"}, {ItemIdentifier: "m2"}}, res.BatchItemFailures)

	require.Len(t, rec.in, 2, "only failed messages are handed back")
	require.Equal(t, url, *rec.in[0].QueueUrl)
	require.Equal(t, "r1", *rec.in[0].ReceiptHandle)
	require.EqualValues(t, 3, rec.in[0].VisibilityTimeout, "the delay the error asked for (Retry-After)")
	require.Equal(t, "r2", *rec.in[1].ReceiptHandle)
	// The second receive of an unplanned failure: 15 s with jitter of 0.8-1.2.
	require.GreaterOrEqual(t, rec.in[1].VisibilityTimeout, int32(12))
	require.LessOrEqual(t, rec.in[1].VisibilityTimeout, int32(18))
}

func TestSQSWithBudgetHandsBackWhatItHasNoTimeFor(t *testing.T) {
	t.Parallel()
	rec := &visibilityRecorder{}
	var logs bytes.Buffer
	url := "http://127.0.0.1:1/123456789012/redub-dev-ingest"
	var started []string
	_, h, err := lambdarun.Build(t.Context(), "test-fn", env(map[string]string{"INGEST_QUEUE_URL": url}), &logs,
		func(_ context.Context, app *lambdarun.App) (any, error) {
			app.SetVisibilityChanger(rec)
			return lambdarun.SQSWithBudget(app, 400*time.Millisecond, func(ctx context.Context, m events.SQSMessage) error {
				started = append(started, m.MessageId)
				if m.Body == "slow" {
					<-ctx.Done() // a probe that hangs: stopped at its own budget
					return ctx.Err()
				}
				return nil
			}), nil
		})
	require.NoError(t, err)
	arn := "arn:aws:sqs:us-east-1:123456789012:redub-dev-ingest"
	var recs []events.SQSMessage
	for i, body := range []string{"ok", "slow", "ok", "ok"} {
		recs = append(recs, events.SQSMessage{MessageId: fmt.Sprint("m", i+1), Body: body, ReceiptHandle: fmt.Sprint("r", i+1), EventSourceARN: arn})
	}
	payload, _ := json.Marshal(events.SQSEvent{Records: recs})
	ctx, cancel := context.WithTimeout(t.Context(), 700*time.Millisecond)
	defer cancel()
	out, err := lambdarun.Invoke(ctx, "inv", h, payload)
	require.NoError(t, err, "the batch is not a timeout of the whole invocation")
	var res events.SQSEventResponse
	require.NoError(t, json.Unmarshal(out, &res))
	require.Equal(t, []string{"m1", "m2"}, started, "after the slow one there is no time for a whole message")
	require.Equal(t, []events.SQSBatchItemFailure{{ItemIdentifier: "m2"}, {ItemIdentifier: "m3"}, {ItemIdentifier: "m4"}}, res.BatchItemFailures)
	var handedBack []string
	for _, in := range rec.in {
		handedBack = append(handedBack, *in.ReceiptHandle)
	}
	require.Equal(t, []string{"r2", "r3", "r4"}, handedBack)
}
