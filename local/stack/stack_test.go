package stack_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/stretchr/testify/require"

	"github.com/redub/redub/local/stack"
	"github.com/redub/redub/shared/postgres/pgtest"
)

func repoRootB(t testing.TB) string { return repoRoot(t) }

func startStackB(b *testing.B) (*stack.Stack, string, *syncBuffer) {
	return startStack(b, filepath.Join(repoRoot(b), "template.yaml"), nil)
}

func repoRoot(t testing.TB) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	require.NoError(t, err)
	return root
}

// startStack starts a stack on free ports with its own database and state.
func startStack(t testing.TB, tpl string, extra map[string]string) (*stack.Stack, string, *syncBuffer) {
	t.Helper()
	db := pgtest.NewEmptyDatabase(t)
	env := map[string]string{"DATABASE_URL": db.Pooled, "DATABASE_URL_UNPOOLED": db.Direct, "PATH": os.Getenv("PATH"), "HOME": os.Getenv("HOME")}
	for k, v := range extra {
		env[k] = v
	}
	stateDir := t.TempDir()
	logs := &syncBuffer{}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	st, err := stack.Start(ctx, stack.Options{
		Root: repoRoot(t), Template: tpl, StateDir: stateDir, ToolsDir: filepath.Join(repoRoot(t), ".tools"),
		Getenv: func(k string) string { return env[k] }, Out: logs,
	})
	require.NoError(t, err, "stack logs:\n%s", logs.String())
	t.Cleanup(func() { st.Stop(context.Background()) })
	return st, stateDir, logs
}

func TestStackRunsTheTemplate(t *testing.T) {
	t.Parallel()
	records := t.TempDir()
	st, _, logs := startStack(t, filepath.Join(repoRoot(t), "local/stack/testdata/template.yaml"), map[string]string{"RECORD_DIR": records})
	api := st.APIURL()

	t.Run("http event and response", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, api+"/echo/abc%20d?x=1&x=2&y=z", strings.NewReader(`{"hello":"world"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Cookie", "a=1; b=2")
		req.Header.Set("X-Custom", "v")
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		require.Equal(t, 201, res.StatusCode, string(body))
		require.Equal(t, "yes", res.Header.Get("X-Echo"))
		require.ElementsMatch(t, []string{"session=abc; Path=/; HttpOnly", "theme=dark"}, res.Header.Values("Set-Cookie"))
		var got struct {
			Event    events.APIGatewayV2HTTPRequest
			Function string
			Env      map[string]string
		}
		require.NoError(t, json.Unmarshal(body, &got))
		ev := got.Event
		require.Equal(t, "2.0", ev.Version)
		require.Equal(t, "POST /echo/{id}", ev.RouteKey)
		require.Equal(t, "abc d", ev.PathParameters["id"])
		require.Equal(t, "/echo/abc%20d", ev.RawPath)
		require.Equal(t, "x=1&x=2&y=z", ev.RawQueryString)
		require.Equal(t, "1,2", ev.QueryStringParameters["x"])
		require.Equal(t, []string{"a=1", "b=2"}, ev.Cookies)
		require.Equal(t, "v", ev.Headers["x-custom"])
		require.Equal(t, `{"hello":"world"}`, ev.Body)
		require.False(t, ev.IsBase64Encoded)
		require.Equal(t, "POST", ev.RequestContext.HTTP.Method)
		require.Equal(t, "127.0.0.1", ev.RequestContext.HTTP.SourceIP)
		require.NotEmpty(t, ev.RequestContext.RequestID)
		require.Equal(t, "EchoFunction", got.Function)
		require.Equal(t, "development", got.Env["STAGE"], "template variables reach the function")
		require.Equal(t, "/redub/development/", got.Env["SSM_PATH"], "!Sub resolves")
		require.Contains(t, got.Env["WORK_QUEUE_ARN"], "arn:aws:sqs:us-east-1:000000000000:")
		require.NotEmpty(t, got.Env["UPLOADS_BUCKET"])
		require.True(t, strings.HasPrefix(got.Env["AWS_ENDPOINT_URL_SQS"], "http://127.0.0.1:"))
	})

	t.Run("binary bodies both ways", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, api+"/echo/x", bytes.NewReader([]byte{0xff, 0x00, 0x10}))
		req.Header.Set("Content-Type", "application/octet-stream")
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		var got struct {
			Event events.APIGatewayV2HTTPRequest
		}
		require.NoError(t, json.Unmarshal(body, &got))
		require.True(t, got.Event.IsBase64Encoded)
		raw, _ := base64.StdEncoding.DecodeString(got.Event.Body)
		require.Equal(t, []byte{0xff, 0x00, 0x10}, raw)

		res, err = http.Get(api + "/echo/binary")
		require.NoError(t, err)
		body, _ = io.ReadAll(res.Body)
		res.Body.Close()
		require.Equal(t, []byte{0, 1, 2, 0xfe, 0xff}, body)
		require.Equal(t, "application/octet-stream", res.Header.Get("Content-Type"))
	})

	t.Run("gateway errors", func(t *testing.T) {
		for path, want := range map[string]int{"/nope": 404, "/echo/boom": 502} {
			res, err := http.Get(api + path)
			require.NoError(t, err)
			res.Body.Close()
			require.Equal(t, want, res.StatusCode, path)
		}
		res, err := http.Post(api+"/echo/big", "application/octet-stream", bytes.NewReader(make([]byte, 10<<20+1)))
		require.NoError(t, err)
		res.Body.Close()
		require.Equal(t, 413, res.StatusCode)
		res, err = http.Get(api + "/slow")
		require.NoError(t, err)
		res.Body.Close()
		require.Contains(t, []int{503, 504}, res.StatusCode, "a timed-out function answers like API Gateway")
		res, err = http.Get(api + "/echo/after-timeout")
		require.NoError(t, err)
		res.Body.Close()
		require.Equal(t, 201, res.StatusCode, "the next invoke gets a fresh environment")
	})

	t.Run("20 concurrent requests", func(t *testing.T) {
		var wg sync.WaitGroup
		codes := make([]int, 20)
		for i := range codes {
			wg.Go(func() {
				res, err := http.Get(fmt.Sprintf("%s/echo/c%d", api, i))
				if err != nil {
					return
				}
				res.Body.Close()
				codes[i] = res.StatusCode
			})
		}
		wg.Wait()
		for i, c := range codes {
			require.Equal(t, 201, c, "request %d", i)
		}
		status, err := st.Status(t.Context())
		require.NoError(t, err)
		for _, f := range status.Functions {
			if f.Name == "EchoFunction" {
				require.Greater(t, f.Environments, 1, "the pool grew")
			}
		}
	})

	t.Run("sqs batches, partial failures and the DLQ", func(t *testing.T) {
		q, ok := st.Queue("WorkQueue")
		require.True(t, ok)
		ids := map[string]string{}
		for _, body := range []string{"ok-1", "fail", "ok-2", "poison"} {
			out, err := st.SQS().SendMessage(t.Context(), &sqs.SendMessageInput{QueueUrl: &q.URL, MessageBody: aws.String(body)})
			require.NoError(t, err)
			ids[body] = *out.MessageId
		}
		// ok-*: delivered once. fail: fails on the first receive, succeeds on the second.
		// poison: fails every time and lands in the DLQ after maxReceiveCount (2).
		dlq, ok := st.Queue("WorkDeadLetterQueue")
		require.True(t, ok)
		var dlqBody string
		require.Eventually(t, func() bool {
			out, err := st.SQS().ReceiveMessage(t.Context(), &sqs.ReceiveMessageInput{QueueUrl: &dlq.URL, MaxNumberOfMessages: 10})
			if err != nil || len(out.Messages) == 0 {
				return false
			}
			dlqBody = *out.Messages[0].Body
			return true
		}, 20*time.Second, 200*time.Millisecond, "poison message reaches the DLQ")
		require.Equal(t, "poison", dlqBody)

		count := func(id string) int {
			m, _ := filepath.Glob(filepath.Join(records, "sqs-"+id+"-*.json"))
			return len(m)
		}
		require.Equal(t, 1, count(ids["ok-1"]), "a message that succeeded is not redelivered")
		require.Equal(t, 1, count(ids["ok-2"]))
		require.Equal(t, 2, count(ids["fail"]), "only the failed message comes back")
		require.Equal(t, 2, count(ids["poison"]))
		var rec struct {
			Record    events.SQSMessage
			BatchSize int `json:"batch_size"`
		}
		b, err := os.ReadFile(filepath.Join(records, "sqs-"+ids["ok-1"]+"-1.json"))
		require.NoError(t, err)
		require.NoError(t, json.Unmarshal(b, &rec))
		require.Equal(t, "aws:sqs", rec.Record.EventSource)
		require.Equal(t, q.ARN, rec.Record.EventSourceARN)
		require.Equal(t, "ok-1", rec.Record.Body)
		require.NotEmpty(t, rec.Record.ReceiptHandle)
	})

	t.Run("s3 events from presigned and multipart uploads", func(t *testing.T) {
		bucket := st.Template().Buckets["UploadsBucket"].Name
		key := "uploads/u1/a1/my vidéo ñ+x.mp4"
		ps := s3.NewPresignClient(st.S3())
		req, err := ps.PresignPutObject(t.Context(), &s3.PutObjectInput{Bucket: &bucket, Key: &key, ContentType: aws.String("video/mp4")})
		require.NoError(t, err)
		put, _ := http.NewRequest(http.MethodPut, req.URL, strings.NewReader("not really a video"))
		put.Header.Set("Content-Type", "video/mp4")
		res, err := http.DefaultClient.Do(put)
		require.NoError(t, err)
		res.Body.Close()
		require.Equal(t, 200, res.StatusCode)
		// Outside the prefix: no event.
		_, err = st.S3().PutObject(t.Context(), &s3.PutObjectInput{Bucket: &bucket, Key: aws.String("other/x"), Body: strings.NewReader("x")})
		require.NoError(t, err)

		mkey := "uploads/u1/a2/big file.mov"
		mp, err := st.S3().CreateMultipartUpload(t.Context(), &s3.CreateMultipartUploadInput{Bucket: &bucket, Key: &mkey})
		require.NoError(t, err)
		var parts []s3types.CompletedPart
		for n := int32(1); n <= 2; n++ {
			size := 5 << 20
			if n == 2 {
				size = 1024
			}
			up, err := st.S3().UploadPart(t.Context(), &s3.UploadPartInput{Bucket: &bucket, Key: &mkey, UploadId: mp.UploadId,
				PartNumber: aws.Int32(n), Body: bytes.NewReader(make([]byte, size))})
			require.NoError(t, err)
			parts = append(parts, s3types.CompletedPart{ETag: up.ETag, PartNumber: aws.Int32(n)})
		}
		_, err = st.S3().CompleteMultipartUpload(t.Context(), &s3.CompleteMultipartUploadInput{Bucket: &bucket, Key: &mkey,
			UploadId: mp.UploadId, MultipartUpload: &s3types.CompletedMultipartUpload{Parts: parts}})
		require.NoError(t, err)

		var got []events.S3EventRecord
		require.Eventually(t, func() bool {
			got = s3Records(t, records)
			return len(got) >= 2
		}, 15*time.Second, 100*time.Millisecond)
		time.Sleep(500 * time.Millisecond)
		got = s3Records(t, records)
		require.Len(t, got, 2, "one event per upload, none for the key outside uploads/")
		byKey := map[string]events.S3EventRecord{}
		for _, r := range got {
			byKey[r.S3.Object.Key] = r
		}
		single, ok := byKey[s3Key(key)]
		require.True(t, ok, "keys are URL-encoded as AWS does: %v", byKey)
		require.Equal(t, "ObjectCreated:Put", single.EventName)
		require.Equal(t, "aws:s3", single.EventSource)
		require.Equal(t, "arn:aws:s3:::"+bucket, single.S3.Bucket.Arn)
		require.Equal(t, int64(len("not really a video")), single.S3.Object.Size)
		require.NotEmpty(t, single.S3.Object.Sequencer)
		multi, ok := byKey[s3Key(mkey)]
		require.True(t, ok)
		require.True(t, strings.HasPrefix(multi.EventName, "ObjectCreated:"), multi.EventName)
		require.Equal(t, int64(5<<20+1024), multi.S3.Object.Size)
	})

	t.Run("schedules fire and invoke works", func(t *testing.T) {
		out, err := st.Fire(t.Context(), "TickFunction.EverySecond")
		require.NoError(t, err)
		require.Contains(t, string(out), "ticked")
		ticks, _ := filepath.Glob(filepath.Join(records, "tick-*.json"))
		require.NotEmpty(t, ticks)
		var ev events.EventBridgeEvent
		b, _ := os.ReadFile(ticks[0])
		require.NoError(t, json.Unmarshal(b, &ev))
		require.Equal(t, "Scheduled Event", ev.DetailType)
		require.Equal(t, "aws.events", ev.Source)

		_, err = st.Fire(t.Context(), "NoSuch.Schedule")
		require.Error(t, err)

		ev2, err := os.ReadFile(filepath.Join(repoRoot(t), "functions/health/event.json"))
		require.NoError(t, err)
		out, err = st.Invoke(t.Context(), "EchoFunction", ev2)
		require.NoError(t, err)
		require.Contains(t, string(out), `"statusCode":201`)
	})
	_ = logs
}

// s3Key encodes a key as S3 event notifications do: form-encoded, with
// slashes left as they are ("a b/ñ+x" -> "a+b/%C3%B1%2Bx").
func s3Key(k string) string { return strings.ReplaceAll(url.QueryEscape(k), "%2F", "/") }

func s3Records(t *testing.T, dir string) []events.S3EventRecord {
	files, _ := filepath.Glob(filepath.Join(dir, "sqs-*.json"))
	var out []events.S3EventRecord
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		var rec struct{ Record events.SQSMessage }
		require.NoError(t, json.Unmarshal(b, &rec))
		var ev events.S3Event
		if json.Unmarshal([]byte(rec.Record.Body), &ev) != nil || len(ev.Records) == 0 {
			continue
		}
		out = append(out, ev.Records...)
	}
	return out
}

// The real template comes up, answers /health and /health/ready, and stopping
// leaves no process and no listening port behind.
func TestRealTemplateStartsAndStopsClean(t *testing.T) {
	t.Parallel()
	st, stateDir, logs := startStack(t, filepath.Join(repoRoot(t), "template.yaml"), nil)
	for _, path := range []string{"/health", "/health/ready"} {
		res, err := http.Get(st.APIURL() + path)
		require.NoError(t, err)
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		require.Equal(t, 200, res.StatusCode, "%s: %s\nlogs:\n%s", path, body, logs.String())
	}
	status, err := st.Status(t.Context())
	require.NoError(t, err)
	var addrs []string
	for _, k := range []string{"api", "s3", "sqs", "control"} {
		u, err := url.Parse(status.Endpoints[k])
		require.NoError(t, err)
		addrs = append(addrs, u.Host)
	}
	require.NotEmpty(t, processesMentioning(stateDir), "the stack's processes run from its state dir")

	st.Stop(context.Background())
	for _, a := range addrs {
		c, err := net.DialTimeout("tcp", a, 200*time.Millisecond)
		if err == nil {
			c.Close()
		}
		require.Error(t, err, "%s still listens after Stop", a)
	}
	require.Eventually(t, func() bool { return len(processesMentioning(stateDir)) == 0 }, 5*time.Second, 100*time.Millisecond,
		"processes left behind: %v", processesMentioning(stateDir))
}

// processesMentioning lists processes whose command line contains s.
func processesMentioning(s string) []string {
	entries, _ := os.ReadDir("/proc")
	var out []string
	for _, e := range entries {
		if e.Name()[0] < '0' || e.Name()[0] > '9' {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil {
			continue
		}
		cmd := strings.ReplaceAll(string(b), "\x00", " ")
		if strings.Contains(cmd, s) {
			out = append(out, e.Name()+": "+cmd)
		}
	}
	return out
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
