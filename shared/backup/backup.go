package backup

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os/exec"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/jackc/pgx/v5"

	"github.com/redub/redub/shared/postgres"
)

// Part sizes. S3 takes at most 10,000 parts of at least 5 MiB (but the
// last); 16 MiB parts reach 156 GiB.
const (
	DefaultPartSize int64 = 16 << 20
	MinPartSize     int64 = 5 << 20
	maxParts              = 10000
)

// Prefix is where backups live in the bucket; the lifecycle rule of the
// backups bucket expires what is under it.
const Prefix = "db/"

const (
	dumpSuffix     = ".dump"
	manifestSuffix = ".manifest.json"
	keyTime        = "20060102T150405Z"
)

// ObjectWriter is the part of the S3 API a backup uses; *s3.Client has it.
type ObjectWriter interface {
	CreateMultipartUpload(ctx context.Context, in *s3.CreateMultipartUploadInput, opts ...func(*s3.Options)) (*s3.CreateMultipartUploadOutput, error)
	UploadPart(ctx context.Context, in *s3.UploadPartInput, opts ...func(*s3.Options)) (*s3.UploadPartOutput, error)
	CompleteMultipartUpload(ctx context.Context, in *s3.CompleteMultipartUploadInput, opts ...func(*s3.Options)) (*s3.CompleteMultipartUploadOutput, error)
	AbortMultipartUpload(ctx context.Context, in *s3.AbortMultipartUploadInput, opts ...func(*s3.Options)) (*s3.AbortMultipartUploadOutput, error)
	PutObject(ctx context.Context, in *s3.PutObjectInput, opts ...func(*s3.Options)) (*s3.PutObjectOutput, error)
}

// Options configure Backup.
type Options struct {
	// DatabaseURL is the direct (unpooled) URL: the exported snapshot that
	// ties the manifest to the dump needs a session of its own.
	DatabaseURL string
	// Stage names the dump (redub-<stage>-<time>.dump): lower-case letters,
	// digits and dashes.
	Stage  string
	Bucket string
	Store  ObjectWriter
	// PgDump is pg_dump's path; default /opt/bin/pg_dump (the PgToolsLayer)
	// when it exists, else pg_dump in PATH.
	PgDump string
	// Now is the clock that dates the key and the manifest; default time.Now.
	Now func() time.Time
	// PartSize is the multipart part size; default DefaultPartSize, at
	// least MinPartSize. Backup holds two parts in memory.
	PartSize int64
}

// Manifest describes one backup. It is stored as JSON next to the dump.
type Manifest struct {
	Key              string           `json:"key"`
	Size             int64            `json:"size"`
	SHA256           string           `json:"sha256"`
	Format           string           `json:"format"` // "custom": pg_dump --format=custom
	Stage            string           `json:"stage"`
	Database         string           `json:"database"`       // host:port/name, without credentials
	ServerVersion    string           `json:"server_version"` // SHOW server_version
	ServerVersionNum int              `json:"server_version_num"`
	PgDumpVersion    string           `json:"pg_dump_version"` // pg_dump --version
	StartedAt        time.Time        `json:"started_at"`
	FinishedAt       time.Time        `json:"finished_at"`
	Tables           map[string]int64 `json:"tables"` // "schema.table" -> rows, counted in the dump's snapshot
}

// DumpKey is where a backup of stage started at t is stored.
func DumpKey(stage string, t time.Time) string {
	t = t.UTC()
	return fmt.Sprintf("%s%s/redub-%s-%s%s", Prefix, t.Format("2006/01/02"), stage, t.Format(keyTime), dumpSuffix)
}

// ManifestKey is the key of the manifest of the dump at dumpKey.
func ManifestKey(dumpKey string) string {
	return strings.TrimSuffix(dumpKey, dumpSuffix) + manifestSuffix
}

// Backup dumps the database at opts.DatabaseURL into opts.Bucket and
// returns the manifest it wrote next to the dump (see the package
// documentation). It returns a *VersionError, before writing anything, when
// pg_dump's major version is below the server's. On any other failure the
// multipart upload is aborted and no manifest is written.
func Backup(ctx context.Context, opts Options) (*Manifest, error) {
	if err := opts.check(); err != nil {
		return nil, err
	}
	started := opts.Now().UTC().Truncate(time.Second)
	pgDump, err := program(opts.PgDump, layerPgDump, "pg_dump")
	if err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	dumpLine, dumpMajor, err := clientVersion(ctx, pgDump)
	if err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}

	conn, err := pgx.Connect(ctx, opts.DatabaseURL)
	if err != nil {
		return nil, fmt.Errorf("backup: connect to %s: %w", postgres.Redact(opts.DatabaseURL), err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	m := &Manifest{
		Key: DumpKey(opts.Stage, started), Format: "custom", Stage: opts.Stage, Database: databaseName(opts.DatabaseURL),
		PgDumpVersion: dumpLine, StartedAt: started,
	}
	if err := conn.QueryRow(ctx, `SELECT current_setting('server_version'), current_setting('server_version_num')::int`).
		Scan(&m.ServerVersion, &m.ServerVersionNum); err != nil {
		return nil, fmt.Errorf("backup: server version: %w", err)
	}
	if server := serverMajor(m.ServerVersionNum); dumpMajor < server {
		return nil, &VersionError{Program: "pg_dump", Have: dumpMajor, Need: server}
	}

	// The transaction whose snapshot pg_dump reads stays open until it exits.
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, fmt.Errorf("backup: begin: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // read only: nothing to undo
	if _, err := tx.Exec(ctx, `SET LOCAL idle_in_transaction_session_timeout = 0`); err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	var snapshot string
	if err := tx.QueryRow(ctx, `SELECT pg_export_snapshot()`).Scan(&snapshot); err != nil {
		return nil, fmt.Errorf("backup: export snapshot: %w", err)
	}
	if m.Tables, err = countRows(ctx, tx); err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}

	if m.Size, m.SHA256, err = dump(ctx, opts, pgDump, snapshot, m.Key); err != nil {
		return nil, fmt.Errorf("backup %s: %w", m.Key, err)
	}
	m.FinishedAt = opts.Now().UTC()
	body, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("backup: encode manifest: %w", err)
	}
	mk := ManifestKey(m.Key)
	if _, err := opts.Store.PutObject(ctx, &s3.PutObjectInput{
		Bucket: &opts.Bucket, Key: &mk, Body: bytes.NewReader(body), ContentLength: aws.Int64(int64(len(body))),
		ContentType: aws.String("application/json"),
	}, checksumWhenRequired); err != nil {
		return nil, fmt.Errorf("backup: put manifest %s: %w", mk, err)
	}
	return m, nil
}

func (o *Options) check() error {
	var missing []string
	if o.DatabaseURL == "" {
		missing = append(missing, "DatabaseURL")
	}
	if o.Bucket == "" {
		missing = append(missing, "Bucket")
	}
	if o.Store == nil {
		missing = append(missing, "Store")
	}
	if len(missing) > 0 {
		return fmt.Errorf("backup: Options need %s", strings.Join(missing, ", "))
	}
	if !validStage(o.Stage) {
		return fmt.Errorf("backup: Stage %q: want lower-case letters, digits and dashes", o.Stage)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	switch {
	case o.PartSize == 0:
		o.PartSize = DefaultPartSize
	case o.PartSize < MinPartSize:
		return fmt.Errorf("backup: PartSize %d is below S3's minimum part size %d", o.PartSize, MinPartSize)
	}
	return nil
}

func validStage(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '-' {
			return false
		}
	}
	return true
}

// databaseName is host:port/name of a URL, for the manifest.
func databaseName(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Host + u.Path
}

// checksumWhenRequired keeps the SDK from adding its own flexible checksums
// (CRC32 by default) to parts and objects: every S3 and stand-in agrees on
// the SigV4 payload hash, which the SDK computes for these seekable bodies,
// and the dump's SHA-256 in the manifest covers the whole object end to end.
func checksumWhenRequired(o *s3.Options) {
	o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
}

// dump runs pg_dump on the exported snapshot and streams its output into a
// multipart upload at key; it returns the size and SHA-256 of what it stored.
func dump(ctx context.Context, opts Options, pgDump, snapshot, key string) (int64, string, error) {
	dbname, env, err := libpq(opts.DatabaseURL)
	if err != nil {
		return 0, "", err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stderr := &tail{max: 8 << 10}
	pr, pw := io.Pipe()
	cmd := exec.CommandContext(ctx, pgDump, "--format=custom", "--no-owner", "--no-acl", "--no-password",
		"--snapshot="+snapshot, "--dbname="+dbname)
	cmd.Env, cmd.Stdout, cmd.Stderr = env, pw, stderr
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Start(); err != nil {
		return 0, "", fmt.Errorf("start pg_dump: %w", err)
	}
	dumped := make(chan error, 1)
	go func() {
		err := cmd.Wait()
		if err != nil {
			err = runError("pg_dump", err, stderr)
		}
		// The reader sees EOF only once pg_dump has exited cleanly, so the
		// upload completes only for a whole dump.
		pw.CloseWithError(err)
		dumped <- err
	}()

	size, sum, upErr := upload(ctx, opts, key, pr)
	if upErr != nil {
		pr.CloseWithError(upErr) // pg_dump gets EPIPE on its next write
		cancel()
	}
	dumpErr := <-dumped
	switch {
	case upErr != nil:
		return 0, "", upErr
	case dumpErr != nil:
		return 0, "", dumpErr
	}
	return size, sum, nil
}

// upload stores what src yields at key as a multipart upload, hashing it on
// the way, and aborts the upload on any error (including src's).
func upload(ctx context.Context, opts Options, key string, src io.Reader) (int64, string, error) {
	out, err := opts.Store.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
		Bucket: &opts.Bucket, Key: &key, ContentType: aws.String("application/octet-stream"),
	})
	if err != nil {
		return 0, "", fmt.Errorf("create multipart upload: %w", err)
	}
	up := &multipart{store: opts.Store, bucket: opts.Bucket, key: key, id: aws.ToString(out.UploadId)}
	size, sum, err := up.parts(ctx, src, opts.PartSize)
	if err == nil && len(up.done) == 0 {
		err = errors.New("pg_dump wrote nothing")
	}
	if err == nil {
		_, err = opts.Store.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
			Bucket: &opts.Bucket, Key: &key, UploadId: &up.id, MultipartUpload: &s3types.CompletedMultipartUpload{Parts: up.done},
		})
		if err != nil {
			err = fmt.Errorf("complete multipart upload: %w", err)
		}
	}
	if err != nil {
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if _, aerr := opts.Store.AbortMultipartUpload(actx, &s3.AbortMultipartUploadInput{Bucket: &opts.Bucket, Key: &key, UploadId: &up.id}); aerr != nil {
			err = fmt.Errorf("%w (and abort multipart upload %s: %w)", err, up.id, aerr)
		}
		return 0, "", err
	}
	return size, hex.EncodeToString(sum), nil
}

// multipart is one multipart upload in progress.
type multipart struct {
	store       ObjectWriter
	bucket, key string
	id          string
	done        []s3types.CompletedPart
}

type part struct {
	n    int32
	data []byte
}

// parts reads src in parts of partSize and uploads each; the next part is
// read while the previous one uploads. It returns the bytes read and their
// SHA-256.
func (m *multipart) parts(ctx context.Context, src io.Reader, partSize int64) (int64, []byte, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	free := make(chan []byte, 2)
	for range cap(free) {
		free <- make([]byte, partSize)
	}
	todo := make(chan part)
	var upErr error
	uploaded := make(chan struct{})
	go func() {
		defer close(uploaded)
		for p := range todo {
			if upErr == nil {
				if err := m.put(ctx, p); err != nil {
					upErr = err
					cancel(err)
				}
			}
			free <- p.data[:cap(p.data)]
		}
	}()

	h := sha256.New()
	var size int64
	var readErr error
read:
	for n := int32(1); ; n++ {
		var buf []byte
		select {
		case buf = <-free:
		case <-ctx.Done():
			break read
		}
		if n > maxParts {
			readErr = fmt.Errorf("the dump is larger than %d parts of %d bytes: raise the part size", maxParts, partSize)
			break
		}
		k, err := io.ReadFull(src, buf)
		h.Write(buf[:k])
		size += int64(k)
		if k > 0 {
			todo <- part{n: n, data: buf[:k]}
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			break
		}
		if err != nil {
			readErr = fmt.Errorf("read pg_dump's output: %w", err)
			break
		}
	}
	close(todo)
	<-uploaded
	switch {
	case upErr != nil:
		return 0, nil, upErr
	case readErr != nil:
		return 0, nil, readErr
	}
	return size, h.Sum(nil), nil
}

func (m *multipart) put(ctx context.Context, p part) error {
	out, err := m.store.UploadPart(ctx, &s3.UploadPartInput{
		Bucket: &m.bucket, Key: &m.key, UploadId: &m.id, PartNumber: aws.Int32(p.n),
		Body: bytes.NewReader(p.data), ContentLength: aws.Int64(int64(len(p.data))),
	}, checksumWhenRequired)
	if err != nil {
		return fmt.Errorf("upload part %d: %w", p.n, err)
	}
	m.done = append(m.done, s3types.CompletedPart{ETag: out.ETag, PartNumber: aws.Int32(p.n)})
	return nil
}
