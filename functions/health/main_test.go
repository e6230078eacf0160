package main

import (
	"encoding/json"
	"io"
	"os"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/stretchr/testify/require"

	"github.com/redub/redub/shared/lambdarun"
)

func TestHealthAnswersWithVersionAndStage(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		"STAGE": "staging", "DATABASE_URL": "postgres://u@db.invalid/redub?sslmode=verify-full", "STORAGE_BUCKET": "redub-staging",
		"AUTH_SECRET": "0123456789abcdef0123456789abcdef", "AUTH_URL": "https://staging.redub.dev",
		"GOOGLE_CLIENT_ID": "id", "GOOGLE_CLIENT_SECRET": "secret",
	}
	_, h, err := lambdarun.Build(t.Context(), "health", func(k string) string { return env[k] }, io.Discard, setup)
	require.NoError(t, err)
	ev, err := os.ReadFile("event.json")
	require.NoError(t, err)
	out, err := lambdarun.Invoke(t.Context(), "r1", h, ev)
	require.NoError(t, err)
	var res events.APIGatewayV2HTTPResponse
	require.NoError(t, json.Unmarshal(out, &res))
	require.Equal(t, 200, res.StatusCode)
	var body map[string]string
	require.NoError(t, json.Unmarshal([]byte(res.Body), &body))
	require.Equal(t, "ok", body["status"])
	require.Equal(t, "staging", body["stage"])
	require.NotEmpty(t, body["version"])
	require.NotEmpty(t, body["commit"])
}
