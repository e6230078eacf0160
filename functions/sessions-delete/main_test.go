package main

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/stretchr/testify/require"

	"github.com/redub/redub/shared/auth"
	"github.com/redub/redub/shared/auth/authtest"
	"github.com/redub/redub/shared/config"
	"github.com/redub/redub/shared/lambdarun"
	"github.com/redub/redub/shared/postgres/pgtest"
)

// The function as deployed: DELETE /sessions with one device's token ends
// the user's sessions on every device, and nobody else's.
func TestSignOutEverywhere(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDatabase(t)
	env := map[string]string{
		"STAGE": "development", "DATABASE_URL": db.Pooled, "STORAGE_BUCKET": "redub-test", "AWS_REGION": "us-east-1",
		"AUTH_SECRET": strings.Repeat("s", 40), "AUTH_URL": "https://app.redub.example",
	}
	getenv := func(k string) string { return env[k] }
	var logs bytes.Buffer
	app, h, err := lambdarun.Build(t.Context(), "sessions-delete", getenv, &logs, setup)
	require.NoError(t, err)
	pool, err := app.DB()
	require.NoError(t, err)
	cfg, err := config.Load(t.Context(), getenv, nil)
	require.NoError(t, err)
	sessions, err := auth.NewSessions(pool, auth.OptionsFrom(cfg))
	require.NoError(t, err)
	users := auth.NewUsers(pool)
	u, laptop := authtest.SignIn(t, sessions, users, "two-devices@example.com")
	phone, _, err := sessions.Open(t.Context(), u.ID, "", "phone")
	require.NoError(t, err)
	_, other := authtest.SignIn(t, sessions, users, "other@example.com")

	raw, err := os.ReadFile("event.json")
	require.NoError(t, err)
	ev := strings.Replace(string(raw), "REPLACE-WITH-A-SESSION-TOKEN", laptop, 1)
	out, err := lambdarun.Invoke(t.Context(), "r1", h, []byte(ev))
	require.NoError(t, err)
	var res events.APIGatewayV2HTTPResponse
	require.NoError(t, json.Unmarshal(out, &res))
	require.Equal(t, 204, res.StatusCode, res.Body+logs.String())

	for _, token := range []string{laptop, phone} {
		_, err := sessions.Authenticate(t.Context(), token)
		require.Error(t, err, "every session of the user is revoked")
	}
	_, err = sessions.Authenticate(t.Context(), other)
	require.NoError(t, err, "another user stays signed in")
}
