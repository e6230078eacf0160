package postgres_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/redub/redub/shared/postgres"
)

func TestRedactHidesEveryPassword(t *testing.T) {
	t.Parallel()
	const secret = "s3cr3t-pw"
	for _, raw := range []string{
		"postgres://redub:" + secret + "@db.example/redub?sslmode=verify-full",
		"postgres://redub@db.example/redub?password=" + secret + "&sslmode=verify-full",
		"postgres://db.example/redub?user=redub&PASSWORD=" + secret,
		"postgres:///redub?host=/tmp&sslpassword=" + secret,
	} {
		got := postgres.Redact(raw)
		require.NotContains(t, got, secret, raw)
		require.Contains(t, got, "xxxxx", raw)
	}
	require.Equal(t, "postgres://redub@db.example/redub?sslmode=verify-full", postgres.Redact("postgres://redub@db.example/redub?sslmode=verify-full"))
}
