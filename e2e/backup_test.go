package e2e_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/redub/redub/shared/backup"
	"github.com/redub/redub/shared/postgres/pgtest"
)

// drillUsers sizes the restore drill: every user gets an asset, a job with
// three steps, an output, a paid call, a session and a rate-limit row.
const drillUsers = 5000

// TestBackupRestoreDrill is the restore drill of DESIGN.md section 10: seed
// data, run the backup function through the local stack on its schedule,
// restore the dump into a fresh database and compare every table, row count
// and checksum.
func TestBackupRestoreDrill(t *testing.T) {
	t.Parallel()
	e := start(t, nil)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()
	source := e.st.Env()["DATABASE_URL_UNPOOLED"]
	seedDrill(ctx, t, source)

	began := time.Now()
	_, err := e.st.Fire(ctx, "BackupFunction.Daily")
	require.NoError(t, err)
	backupTook := time.Since(began)

	bucket := e.st.Template().Buckets["BackupsBucket"].Name
	list, err := e.st.S3().ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &bucket, Prefix: aws.String(backup.Prefix)})
	require.NoError(t, err)
	keys := map[string]bool{}
	for _, o := range list.Contents {
		keys[aws.ToString(o.Key)] = true
	}
	dumpKey, err := backup.Latest(ctx, e.st.S3(), bucket)
	require.NoError(t, err)
	require.Regexp(t, regexp.MustCompile(`^db/\d{4}/\d\d/\d\d/redub-development-\d{8}T\d{6}Z\.dump$`), dumpKey)
	for k := range keys {
		// Only dumps and their manifests, in pairs (the real 03:00 UTC schedule may add a pair).
		dk := strings.TrimSuffix(k, ".manifest.json")
		dk = strings.TrimSuffix(dk, ".dump") + ".dump"
		require.True(t, keys[dk] && keys[backup.ManifestKey(dk)], "%s has no pair in %v", k, keys)
	}

	var m backup.Manifest
	require.NoError(t, json.Unmarshal(getObject(ctx, t, e, bucket, backup.ManifestKey(dumpKey)), &m))
	require.Equal(t, dumpKey, m.Key)
	dump := getObject(ctx, t, e, bucket, dumpKey)
	sum := sha256.Sum256(dump)
	require.Equal(t, hex.EncodeToString(sum[:]), m.SHA256, "the stored dump is the one the manifest describes")
	require.Equal(t, int64(len(dump)), m.Size)
	direct, err := url.Parse(source)
	require.NoError(t, err)
	require.Equal(t, direct.Host+direct.Path, m.Database, "the function dumped through the direct URL, not the pooler")

	fresh := pgtest.NewEmptyDatabase(t)
	began = time.Now()
	restored, err := backup.Restore(ctx, backup.RestoreOptions{Key: dumpKey, Bucket: bucket, Store: e.st.S3(), TargetURL: fresh.Direct, TempDir: t.TempDir()})
	require.NoError(t, err)
	restoreTook := time.Since(began)
	require.Equal(t, m, *restored)

	want, got := tableChecksums(ctx, t, source), tableChecksums(ctx, t, fresh.Direct)
	require.Equal(t, want, got, "every table, row for row")
	rows := int64(0)
	for table, c := range want {
		require.Equal(t, c.rows, m.Tables["public."+table], "the manifest's count of %s", table)
		rows += c.rows
	}
	for _, table := range []string{"users", "assets", "jobs", "job_steps", "outputs", "provider_calls"} {
		require.Positive(t, want[table].rows, "%s was seeded", table)
	}
	t.Logf("restore drill: %d rows in %d tables; backup (function through the stack) %v, dump %d bytes (%.1f MiB); restore (download, check, pg_restore, count) %v",
		rows, len(want), backupTook.Round(time.Millisecond), m.Size, float64(m.Size)/(1<<20), restoreTook.Round(time.Millisecond))
}

func getObject(ctx context.Context, t *testing.T, e *env, bucket, key string) []byte {
	t.Helper()
	out, err := e.st.S3().GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: &key})
	require.NoError(t, err)
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	require.NoError(t, err)
	return b
}

// seedDrill fills every table with rows that exercise the dump: NULLs,
// JSON, bytes, and text with quotes, commas, newlines and non-ASCII letters.
func seedDrill(ctx context.Context, t *testing.T, dbURL string) {
	t.Helper()
	conn, err := pgx.Connect(ctx, dbURL)
	require.NoError(t, err)
	defer conn.Close(context.WithoutCancel(ctx))
	_, err = conn.Exec(ctx, fmt.Sprintf(`
INSERT INTO users (id, google_sub, email, name, picture_url)
SELECT gen_random_uuid(), CASE WHEN i %% 3 > 0 THEN 'google-' || i END, 'user' || i || '@example.com',
       E'Zoë "Q" O''Brien,\n#' || i, 'https://example.com/p/' || i || '.png'
FROM generate_series(1, %d) i;
INSERT INTO sessions (id, user_id, token_hash, expires_at, ip, user_agent)
SELECT gen_random_uuid(), id, sha256(convert_to(email, 'UTF8')), now() + interval '30 days', '203.0.113.7', 'Mozilla/5.0 (drill)' FROM users;
INSERT INTO assets (id, user_id, status, kind, filename, content_type, size_bytes, object_key, recipe, params, probe)
SELECT gen_random_uuid(), id, 'ready', 'video', 'talk, take ' || left(email, 8) || '.mov', 'video/quicktime', 1048576 + length(email),
       'uploads/' || id || '/source.mov', 'voiceover', jsonb_build_object('voice', 'Aurélie', 'lang', 'fr'),
       jsonb_build_object('duration', 61.5, 'streams', jsonb_build_array('h264', 'aac'))
FROM users;
INSERT INTO jobs (id, user_id, asset_id, recipe, params, status, idempotency_key, request_hash, error, trace_id, started_at, finished_at)
SELECT gen_random_uuid(), user_id, id, 'voiceover', params, CASE WHEN size_bytes %% 5 = 0 THEN 'failed' ELSE 'succeeded' END,
       'idem-' || id, sha256(convert_to(object_key, 'UTF8')), CASE WHEN size_bytes %% 5 = 0 THEN E'mix: ffmpeg exited 1:\n"bad"' END,
       'Root=1-' || md5(object_key), now() - interval '5 minutes', now()
FROM assets;
INSERT INTO job_steps (job_id, step, position, status, attempts, progress_percent, progress_stage, usage, enqueued_at, started_at, finished_at)
SELECT j.id, s.step, s.pos, 'succeeded', s.pos, 100, 'done', jsonb_build_object('seconds', s.pos * 1.5), now(), now(), now()
FROM jobs j, (VALUES ('transcode', 1), ('transcribe', 2), ('mix', 3)) AS s(step, pos);
INSERT INTO outputs (id, job_id, step, kind, object_key, filename, content_type, size_bytes)
SELECT gen_random_uuid(), id, 'mix', 'video', 'jobs/' || id || '/mix/voiceover.mp4', 'voiceover.mp4', 'video/mp4', 2097152 FROM jobs;
INSERT INTO provider_calls (id, request_hash, provider, operation, job_id, step, status, attempts, result, usage)
SELECT gen_random_uuid(), sha256(convert_to('call-' || id, 'UTF8')), 'openai', 'transcribe', id, 'transcribe', 'succeeded', 1,
       jsonb_build_object('text', E'Bonjour à tous,\n"merci"', 'segments', jsonb_build_array(jsonb_build_object('start', 0, 'end', 2.5))),
       '{"seconds": 61.5}'
FROM jobs;
INSERT INTO rate_limits (bucket, window_start, count, expires_at)
SELECT 'api:' || id, date_trunc('minute', now()), 3, now() + interval '2 minutes' FROM users;`, drillUsers))
	require.NoError(t, err)
}

type tableSum struct {
	rows int64
	md5  string
}

// tableChecksums returns each public table's row count and an md5 over its
// rows in a stable order.
func tableChecksums(ctx context.Context, t *testing.T, dbURL string) map[string]tableSum {
	t.Helper()
	conn, err := pgx.Connect(ctx, dbURL)
	require.NoError(t, err)
	defer conn.Close(context.WithoutCancel(ctx))
	rows, err := conn.Query(ctx, `SELECT tablename FROM pg_tables WHERE schemaname = 'public'`)
	require.NoError(t, err)
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	sums := map[string]tableSum{}
	for _, table := range tables {
		var s tableSum
		var md5 *string
		require.NoError(t, conn.QueryRow(ctx, `SELECT count(*), md5(string_agg(t::text, ',' ORDER BY t::text)) FROM `+
			pgx.Identifier{table}.Sanitize()+` t`).Scan(&s.rows, &md5))
		s.md5 = aws.ToString(md5)
		sums[table] = s
	}
	return sums
}
