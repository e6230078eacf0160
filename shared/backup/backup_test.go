package backup_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	"github.com/jackc/pgx/v5"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/stretchr/testify/require"

	"github.com/redub/redub/shared/backup"
	"github.com/redub/redub/shared/postgres/pgtest"
)

const bucket = "redub-backups-test"

// bundle is what each test works with: a migrated database of its own and
// an in-memory S3 with the backups bucket.
type bundle struct {
	db  pgtest.URLs
	s3  *s3.Client
	now time.Time
}

func setup(t *testing.T) *bundle {
	t.Helper()
	backend := s3mem.New()
	require.NoError(t, backend.CreateBucket(bucket))
	srv := httptest.NewServer(gofakes3.New(backend).Server())
	t.Cleanup(srv.Close)
	client := s3.New(s3.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", ""),
	})
	return &bundle{db: pgtest.NewDatabase(t), s3: client, now: time.Date(2026, 3, 4, 3, 0, 7, 0, time.UTC)}
}

func (b *bundle) options(pgDump string) backup.Options {
	return backup.Options{DatabaseURL: b.db.Direct, Stage: "test", Bucket: bucket, Store: b.s3, PgDump: pgDump,
		Now: func() time.Time { return b.now }}
}

// keys lists the objects in the bucket and the multipart uploads still open.
func (b *bundle) keys(t *testing.T) (objects, uploads []string) {
	t.Helper()
	out, err := b.s3.ListObjectsV2(t.Context(), &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	require.NoError(t, err)
	for _, o := range out.Contents {
		objects = append(objects, aws.ToString(o.Key))
	}
	mu, err := b.s3.ListMultipartUploads(t.Context(), &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket)})
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) && apiErr.ErrorCode() == "NoSuchUpload" {
		return objects, nil // gofakes3's answer for a bucket that never had an upload
	}
	require.NoError(t, err)
	for _, u := range mu.Uploads {
		uploads = append(uploads, aws.ToString(u.Key))
	}
	return objects, uploads
}

func (b *bundle) get(t *testing.T, key string) []byte {
	t.Helper()
	out, err := b.s3.GetObject(t.Context(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: &key})
	require.NoError(t, err)
	defer out.Body.Close()
	data, err := io.ReadAll(out.Body)
	require.NoError(t, err)
	return data
}

func (b *bundle) put(t *testing.T, key string, data []byte) {
	t.Helper()
	_, err := b.s3.PutObject(t.Context(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: &key, Body: bytes.NewReader(data)})
	require.NoError(t, err)
}

// seed fills every table the dump must carry, with NULLs, JSON, bytes and
// text that needs quoting.
func seed(t *testing.T, url string, users int) {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), url)
	require.NoError(t, err)
	defer conn.Close(context.Background())
	_, err = conn.Exec(t.Context(), fmt.Sprintf(`
INSERT INTO users (id, email, name, google_sub)
SELECT gen_random_uuid(), 'user' || i || '@example.com', E'Zoë "quoted"\n' || i, CASE WHEN i %% 2 = 0 THEN 'sub-' || i END
FROM generate_series(1, %d) i;
INSERT INTO assets (id, user_id, status, kind, filename, content_type, size_bytes, object_key, params, probe)
SELECT gen_random_uuid(), u.id, 'ready', 'video', 'talk, take 1.mp4', 'video/mp4', 1000 + length(u.email),
       'uploads/' || u.id || '/source.mp4', '{"voice": "ünïcode"}', jsonb_build_object('duration', 12.5)
FROM users u;
INSERT INTO jobs (id, user_id, asset_id, recipe, status, request_hash)
SELECT gen_random_uuid(), a.user_id, a.id, 'voiceover', 'succeeded', decode(md5(a.object_key), 'hex') FROM assets a;
INSERT INTO job_steps (job_id, step, position, status, attempts, usage)
SELECT j.id, s.step, s.pos, 'succeeded', 1, '{"seconds": 3}'
FROM jobs j, (VALUES ('transcode', 1), ('transcribe', 2), ('mix', 3)) AS s(step, pos);
INSERT INTO outputs (id, job_id, step, kind, object_key, filename, content_type, size_bytes)
SELECT gen_random_uuid(), j.id, 'mix', 'video', 'jobs/' || j.id || '/mix/out.mp4', 'out.mp4', 'video/mp4', 42 FROM jobs j;
INSERT INTO provider_calls (id, request_hash, provider, operation, job_id, step, status, result)
SELECT gen_random_uuid(), decode(md5('call' || j.id), 'hex'), 'openai', 'transcribe', j.id, 'transcribe', 'succeeded', '{"text": "hello"}'
FROM jobs j;`, users))
	require.NoError(t, err)
}

// tableSums returns rows and an md5 of every row, by table.
func tableSums(t *testing.T, url string) map[string]string {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), url)
	require.NoError(t, err)
	defer conn.Close(context.Background())
	rows, err := conn.Query(t.Context(), `SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1`)
	require.NoError(t, err)
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	sums := map[string]string{}
	for _, tbl := range tables {
		var n int64
		var sum *string
		id := pgx.Identifier{tbl}.Sanitize()
		require.NoError(t, conn.QueryRow(t.Context(),
			`SELECT count(*), md5(string_agg(t::text, ',' ORDER BY t::text)) FROM `+id+` t`).Scan(&n, &sum))
		sums[tbl] = fmt.Sprintf("%d rows, md5 %s", n, aws.ToString(sum))
	}
	return sums
}

// fakePgDump writes a shell script that answers --version with version and
// otherwise runs body.
func fakePgDump(t *testing.T, version, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "pg_dump")
	script := fmt.Sprintf("#!/bin/sh\nif [ \"$1\" = --version ]; then echo 'pg_dump (PostgreSQL) %s'; exit 0; fi\n%s\n", version, body)
	require.NoError(t, os.WriteFile(path, []byte(script), 0o755))
	return path
}

func TestBackupAndRestore(t *testing.T) {
	t.Parallel()
	b := setup(t)
	seed(t, b.db.Direct, 20)

	m, err := backup.Backup(t.Context(), b.options(""))
	require.NoError(t, err)

	require.Equal(t, "db/2026/03/04/redub-test-20260304T030007Z.dump", m.Key)
	require.Equal(t, "custom", m.Format)
	require.Equal(t, b.now, m.StartedAt)
	require.Equal(t, map[string]int64{
		"public.users": 20, "public.assets": 20, "public.jobs": 20, "public.job_steps": 60, "public.outputs": 20,
		"public.provider_calls": 20, "public.sessions": 0, "public.rate_limits": 0, "public.job_revisions": 0, "public.job_segment_edits": 0,
		"public.upload_usage": 0, "public.job_events": 0, "public.job_parts": 0, "public.cost_usage": 0, "public.webhooks": 0, "public.webhook_deliveries": 0, "public.webhook_attempts": 0,
		"public.goose_db_version": m.Tables["public.goose_db_version"],
	}, m.Tables)
	require.Positive(t, m.Tables["public.goose_db_version"])
	require.Contains(t, m.PgDumpVersion, "(PostgreSQL)")
	require.Positive(t, m.ServerVersionNum)

	dump := b.get(t, m.Key)
	sum := sha256.Sum256(dump)
	require.Equal(t, hex.EncodeToString(sum[:]), m.SHA256)
	require.Equal(t, int64(len(dump)), m.Size)
	require.True(t, bytes.HasPrefix(dump, []byte("PGDMP")), "a custom-format archive")
	var stored backup.Manifest
	require.NoError(t, json.Unmarshal(b.get(t, backup.ManifestKey(m.Key)), &stored))
	require.Equal(t, *m, stored)

	target := pgtest.NewEmptyDatabase(t)
	got, err := backup.Restore(t.Context(), backup.RestoreOptions{Key: m.Key, Bucket: bucket, Store: b.s3, TargetURL: target.Direct, TempDir: t.TempDir()})
	require.NoError(t, err)
	require.Equal(t, m.SHA256, got.SHA256)
	require.Equal(t, tableSums(t, b.db.Direct), tableSums(t, target.Direct))
}

func TestBackupRefusesAnOlderPgDump(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ran := filepath.Join(t.TempDir(), "ran")
	pgDump := fakePgDump(t, "14.0", "touch "+ran+"; exit 1")

	_, err := backup.Backup(t.Context(), b.options(pgDump))

	var ve *backup.VersionError
	require.ErrorAs(t, err, &ve)
	require.Equal(t, "pg_dump", ve.Program)
	require.Equal(t, 14, ve.Have)
	require.Greater(t, ve.Need, 14)
	require.ErrorContains(t, err, fmt.Sprintf("PG_MAJOR=%d", ve.Need), "the fix is named")
	require.NoFileExists(t, ran, "pg_dump never ran to dump")
	objects, uploads := b.keys(t)
	require.Empty(t, objects)
	require.Empty(t, uploads)
}

func TestBackupStreamsInParts(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const size = 2*5<<20 + 12345 // three parts of 5 MiB
	pgDump := fakePgDump(t, "99.1", fmt.Sprintf("yes redub-backup | head -c %d", size))
	opts := b.options(pgDump)
	opts.PartSize = backup.MinPartSize

	m, err := backup.Backup(t.Context(), opts)
	require.NoError(t, err)

	want := bytes.Repeat([]byte("redub-backup\n"), size/13+1)[:size]
	sum := sha256.Sum256(want)
	require.Equal(t, int64(size), m.Size)
	require.Equal(t, hex.EncodeToString(sum[:]), m.SHA256)
	require.Equal(t, want, b.get(t, m.Key))
}

func TestBackupOfAFailedDumpLeavesNothing(t *testing.T) {
	t.Parallel()
	b := setup(t)
	pgDump := fakePgDump(t, "99.1", "yes redub-backup | head -c 6000000; echo 'pg_dump: error: query failed: boom' >&2; exit 1")
	opts := b.options(pgDump)
	opts.PartSize = backup.MinPartSize

	_, err := backup.Backup(t.Context(), opts)

	require.ErrorContains(t, err, "boom", "pg_dump's stderr is in the error")
	objects, uploads := b.keys(t)
	require.Empty(t, objects, "no dump and no manifest")
	require.Empty(t, uploads, "the multipart upload was aborted")
}

func TestRestoreRefusesACorruptedDump(t *testing.T) {
	t.Parallel()
	b := setup(t)
	seed(t, b.db.Direct, 3)
	m, err := backup.Backup(t.Context(), b.options(""))
	require.NoError(t, err)
	dump := b.get(t, m.Key)
	dump[len(dump)/2] ^= 0xff
	b.put(t, m.Key, dump)
	target := pgtest.NewEmptyDatabase(t)

	_, err = backup.Restore(t.Context(), backup.RestoreOptions{Key: m.Key, Bucket: bucket, Store: b.s3, TargetURL: target.Direct, TempDir: t.TempDir()})

	var ce *backup.ChecksumError
	require.ErrorAs(t, err, &ce)
	require.Equal(t, m.SHA256, ce.WantSHA256)
	require.NotEqual(t, ce.WantSHA256, ce.SHA256)
	require.Empty(t, tableSums(t, target.Direct), "nothing was restored")
}

func TestRestoreRefusesATargetWithTables(t *testing.T) {
	t.Parallel()
	b := setup(t)
	m, err := backup.Backup(t.Context(), b.options(""))
	require.NoError(t, err)
	target := pgtest.NewDatabase(t) // migrated: it has the tables already

	_, err = backup.Restore(t.Context(), backup.RestoreOptions{Key: backup.ManifestKey(m.Key), Bucket: bucket, Store: b.s3, TargetURL: target.Direct})

	require.ErrorIs(t, err, backup.ErrTargetNotEmpty)
}

func TestLatest(t *testing.T) {
	t.Parallel()
	b := setup(t)
	_, err := backup.Latest(t.Context(), b.s3, bucket)
	require.ErrorIs(t, err, backup.ErrNoBackup)

	for _, k := range []string{
		"db/2026/03/03/redub-pre-prod-20260303T030000Z.manifest.json",
		"db/2026/03/04/redub-prod-20260304T030000Z.manifest.json",
		"db/2026/03/04/redub-prod-20260304T120000Z.dump", // no manifest: unfinished
		"db/2026/03/04/redub-a-20260304T020000Z.manifest.json",
	} {
		b.put(t, k, []byte("{}"))
	}
	got, err := backup.Latest(t.Context(), b.s3, bucket)
	require.NoError(t, err)
	require.Equal(t, "db/2026/03/04/redub-prod-20260304T030000Z.dump", got)
}

func TestDumpKey(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 12, 31, 23, 59, 58, 0, time.FixedZone("CET", 3600))
	key := backup.DumpKey("production", at)
	require.Equal(t, "db/2026/12/31/redub-production-20261231T225958Z.dump", key)
	require.Equal(t, "db/2026/12/31/redub-production-20261231T225958Z.manifest.json", backup.ManifestKey(key))
	require.True(t, strings.HasPrefix(key, backup.Prefix))
}
