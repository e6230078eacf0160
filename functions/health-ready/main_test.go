package main

import (
	"bytes"
	"encoding/json"
	"net"
	"net/http/httptest"
	"os"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/stretchr/testify/require"

	"github.com/redub/redub/shared/lambdarun"
	"github.com/redub/redub/shared/postgres/pgtest"
)

// closedURL returns an http URL on a port nothing listens on.
func closedURL(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return "http://" + addr
}

func invoke(t *testing.T, env map[string]string) (events.APIGatewayV2HTTPResponse, string) {
	t.Helper()
	base := map[string]string{
		"STAGE": "development", "STORAGE_BUCKET": "redub-test", "AWS_REGION": "us-east-1",
		"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
	}
	for k, v := range env {
		base[k] = v
	}
	var logs bytes.Buffer
	_, h, err := lambdarun.Build(t.Context(), "health-ready", func(k string) string { return base[k] }, &logs, setup)
	require.NoError(t, err)
	ev, err := os.ReadFile("event.json")
	require.NoError(t, err)
	out, err := lambdarun.Invoke(t.Context(), "r1", h, ev)
	require.NoError(t, err)
	var res events.APIGatewayV2HTTPResponse
	require.NoError(t, json.Unmarshal(out, &res))
	return res, logs.String()
}

func fakeS3(t *testing.T, bucket string) string {
	t.Helper()
	backend := s3mem.New()
	require.NoError(t, backend.CreateBucket(bucket))
	srv := httptest.NewServer(gofakes3.New(backend).Server())
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestReadyWhenDependenciesAnswer(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDatabase(t)
	res, _ := invoke(t, map[string]string{"DATABASE_URL": db.Pooled, "AWS_ENDPOINT_URL_S3": fakeS3(t, "redub-test")})
	require.Equal(t, 200, res.StatusCode, res.Body)
	require.Contains(t, res.Body, `"status":"ready"`)
}

func TestNotReadyNamesTheFailedDependency(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDatabase(t)
	s3 := fakeS3(t, "redub-test")
	down := closedURL(t)

	cases := map[string]struct {
		env    map[string]string
		failed string
	}{
		"database down":  {map[string]string{"DATABASE_URL": "postgres://redub@" + down[len("http://"):] + "/redub?sslmode=disable", "AWS_ENDPOINT_URL_S3": s3}, "database"},
		"bucket missing": {map[string]string{"DATABASE_URL": db.Pooled, "AWS_ENDPOINT_URL_S3": s3, "STORAGE_BUCKET": "no-such-bucket"}, "bucket"},
		"queue down": {map[string]string{"DATABASE_URL": db.Pooled, "AWS_ENDPOINT_URL_S3": s3,
			"AWS_ENDPOINT_URL_SQS": down, "INGEST_QUEUE_URL": down + "/000000000000/ingest"}, "queue:ingest"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			res, logs := invoke(t, tc.env)
			require.Equal(t, 503, res.StatusCode, res.Body)
			require.Equal(t, "application/problem+json", res.Headers["Content-Type"])
			var p struct {
				Detail string `json:"detail"`
				Checks []struct{ Name, Status string }
			}
			require.NoError(t, json.Unmarshal([]byte(res.Body), &p))
			require.Contains(t, p.Detail, tc.failed)
			for _, c := range p.Checks {
				want := "ok"
				if c.Name == tc.failed {
					want = "failed"
				}
				require.Equal(t, want, c.Status, c.Name)
			}
			require.NotContains(t, res.Body, "127.0.0.1", "connection details stay in the logs")
			require.Contains(t, logs, tc.failed, "the log says which check failed and why")
		})
	}
}
