package main

import (
	"bytes"
	"net/http/httptest"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/stretchr/testify/require"

	"github.com/redub/redub/shared/postgres/pgtest"
)

func TestBackupThenRestoreLatest(t *testing.T) {
	t.Parallel()
	backend := s3mem.New()
	require.NoError(t, backend.CreateBucket("redub-backups"))
	srv := httptest.NewServer(gofakes3.New(backend).Server())
	t.Cleanup(srv.Close)
	source, target := pgtest.NewDatabase(t), pgtest.NewEmptyDatabase(t)
	conn, err := pgx.Connect(t.Context(), source.Direct)
	require.NoError(t, err)
	_, err = conn.Exec(t.Context(), `INSERT INTO users (id, email) SELECT gen_random_uuid(), 'u' || i || '@example.com' FROM generate_series(1, 7) i`)
	require.NoError(t, err)
	require.NoError(t, conn.Close(t.Context()))
	vars := map[string]string{
		"DATABASE_URL_UNPOOLED": source.Direct, "BACKUP_BUCKET": "redub-backups", "AWS_ENDPOINT_URL_S3": srv.URL, "STAGE": "staging",
	}
	var out bytes.Buffer
	env := &environ{getenv: func(k string) string { return vars[k] }, stdout: &out, stderr: &out}

	require.NoError(t, run(t.Context(), []string{"backup"}, env), out.String())
	require.Regexp(t, `wrote s3://redub-backups/db/\d{4}/\d\d/\d\d/redub-staging-\d{8}T\d{6}Z\.dump`, out.String())

	out.Reset()
	require.NoError(t, run(t.Context(), []string{"restore", "latest", "--to", target.Direct}, env), out.String())
	require.Regexp(t, `public\.users\s+7`, out.String())

	out.Reset()
	err = run(t.Context(), []string{"restore", "--to", target.Direct}, env)
	require.ErrorIs(t, err, errUsage, "no key")
}
