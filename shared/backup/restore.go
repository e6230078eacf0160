package backup

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/jackc/pgx/v5"

	"github.com/redub/redub/shared/postgres"
)

// ObjectReader is the part of the S3 API a restore uses; *s3.Client has it.
type ObjectReader interface {
	GetObject(ctx context.Context, in *s3.GetObjectInput, opts ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, opts ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
}

// RestoreOptions configure Restore.
type RestoreOptions struct {
	// Key is the dump's key (db/.../redub-<stage>-<time>.dump) or its
	// manifest's; Latest finds the newest.
	Key    string
	Bucket string
	Store  ObjectReader
	// TargetURL is the database to restore into, a direct URL. It must be
	// empty: no tables, views or sequences of its own.
	TargetURL string
	// PgRestore is pg_restore's path; default /opt/bin/pg_restore (the
	// PgToolsLayer) when it exists, else pg_restore in PATH.
	PgRestore string
	// TempDir holds the downloaded dump while it is checked and restored;
	// default os.TempDir(). It needs room for the whole dump.
	TempDir string
}

// Restore restores the backup at opts.Key into the empty database at
// opts.TargetURL and returns its manifest. It refuses, before pg_restore
// runs, a target that is not empty (ErrTargetNotEmpty), a pg_restore older
// than the archive's pg_dump (*VersionError) and a dump whose size or
// SHA-256 differ from the manifest (*ChecksumError). pg_restore runs in a
// single transaction, so a failed restore leaves the target as it was.
// Afterwards the restored row counts are checked against the manifest
// (ErrCountMismatch).
func Restore(ctx context.Context, opts RestoreOptions) (*Manifest, error) {
	if opts.Key == "" || opts.Bucket == "" || opts.Store == nil || opts.TargetURL == "" {
		return nil, fmt.Errorf("restore: RestoreOptions need Key, Bucket, Store and TargetURL")
	}
	key := strings.TrimSuffix(opts.Key, manifestSuffix)
	key = strings.TrimSuffix(key, dumpSuffix) + dumpSuffix
	m, err := ReadManifest(ctx, opts.Store, opts.Bucket, key)
	if err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}

	pgRestore, err := program(opts.PgRestore, layerPgRestore, "pg_restore")
	if err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	_, restoreMajor, err := clientVersion(ctx, pgRestore)
	if err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	if dumpMajor, ok := parseClientVersion(m.PgDumpVersion); ok && restoreMajor < dumpMajor {
		return nil, &VersionError{Program: "pg_restore", Have: restoreMajor, Need: dumpMajor}
	}

	conn, err := pgx.Connect(ctx, opts.TargetURL)
	if err != nil {
		return nil, fmt.Errorf("restore: connect to %s: %w", postgres.Redact(opts.TargetURL), err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if n, err := relationCount(ctx, conn); err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	} else if n > 0 {
		return nil, fmt.Errorf("restore: %w: %s has %d tables, views or sequences; restore into a new database (CREATE DATABASE ...)",
			ErrTargetNotEmpty, postgres.Redact(opts.TargetURL), n)
	}

	file, err := download(ctx, opts, m)
	if err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	defer os.Remove(file)

	dbname, env, err := libpq(opts.TargetURL)
	if err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	stderr := &tail{max: 8 << 10}
	cmd := exec.CommandContext(ctx, pgRestore, "--no-owner", "--no-acl", "--exit-on-error", "--single-transaction",
		"--no-password", "--dbname="+dbname, file)
	cmd.Env, cmd.Stdout, cmd.Stderr = env, stderr, stderr
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("restore %s: %w", key, runError("pg_restore", err, stderr))
	}

	got, err := countRows(ctx, conn)
	if err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	if diff := compareCounts(m.Tables, got); diff != "" {
		return nil, fmt.Errorf("restore %s: %w: %s", key, ErrCountMismatch, diff)
	}
	return m, nil
}

// download copies the dump to a temporary file, hashing it, and returns the
// file's path once it matches the manifest.
func download(ctx context.Context, opts RestoreOptions, m *Manifest) (_ string, err error) {
	f, err := os.CreateTemp(opts.TempDir, "redub-restore-*.dump")
	if err != nil {
		return "", fmt.Errorf("download %s: %w", m.Key, err)
	}
	defer func() {
		if cerr := f.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("download %s: %w", m.Key, cerr)
		}
		if err != nil {
			os.Remove(f.Name())
		}
	}()
	out, err := opts.Store.GetObject(ctx, &s3.GetObjectInput{Bucket: &opts.Bucket, Key: &m.Key})
	if err != nil {
		return "", fmt.Errorf("get %s: %w", m.Key, err)
	}
	defer out.Body.Close()
	h := sha256.New()
	size, err := io.Copy(io.MultiWriter(f, h), out.Body)
	if err != nil {
		return "", fmt.Errorf("download %s: %w", m.Key, err)
	}
	if sum := hex.EncodeToString(h.Sum(nil)); sum != m.SHA256 || size != m.Size {
		return "", &ChecksumError{Key: m.Key, WantSHA256: m.SHA256, SHA256: sum, WantSize: m.Size, Size: size}
	}
	return f.Name(), nil
}

// compareCounts describes the tables whose counts differ, or returns "".
func compareCounts(want, got map[string]int64) string {
	var diffs []string
	for _, t := range slices.Sorted(maps.Keys(want)) {
		if g, ok := got[t]; !ok {
			diffs = append(diffs, t+" is missing")
		} else if g != want[t] {
			diffs = append(diffs, fmt.Sprintf("%s has %d rows, want %d", t, g, want[t]))
		}
	}
	for _, t := range slices.Sorted(maps.Keys(got)) {
		if _, ok := want[t]; !ok {
			diffs = append(diffs, t+" is not in the manifest")
		}
	}
	return strings.Join(diffs, "; ")
}

// ReadManifest reads the manifest of the dump at dumpKey.
func ReadManifest(ctx context.Context, s ObjectReader, bucket, dumpKey string) (*Manifest, error) {
	mk := ManifestKey(dumpKey)
	out, err := s.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: &mk})
	if err != nil {
		return nil, fmt.Errorf("get manifest %s (a dump without one is unfinished): %w", mk, err)
	}
	defer out.Body.Close()
	var m Manifest
	if err := json.NewDecoder(io.LimitReader(out.Body, 1<<20)).Decode(&m); err != nil {
		return nil, fmt.Errorf("read manifest %s: %w", mk, err)
	}
	if m.Key != dumpKey {
		return nil, fmt.Errorf("manifest %s describes %q, not %s", mk, m.Key, dumpKey)
	}
	return &m, nil
}

// Latest returns the key of the newest complete backup in bucket (the
// newest dump with a manifest), or an error wrapping ErrNoBackup.
func Latest(ctx context.Context, s ObjectReader, bucket string) (string, error) {
	var best, bestTime string
	in := &s3.ListObjectsV2Input{Bucket: &bucket, Prefix: aws.String(Prefix)}
	for {
		out, err := s.ListObjectsV2(ctx, in)
		if err != nil {
			return "", fmt.Errorf("list %s in %s: %w", Prefix, bucket, err)
		}
		for _, o := range out.Contents {
			k := aws.ToString(o.Key)
			if !strings.HasSuffix(k, manifestSuffix) {
				continue
			}
			// The time ends the name (redub-<stage>-<time>); stages may hold dashes.
			name := strings.TrimSuffix(k, manifestSuffix)
			t := name[strings.LastIndexByte(name, '-')+1:]
			if t > bestTime || (t == bestTime && k > best) {
				best, bestTime = k, t
			}
		}
		if !aws.ToBool(out.IsTruncated) || out.NextContinuationToken == nil {
			break
		}
		in.ContinuationToken = out.NextContinuationToken
	}
	if best == "" {
		return "", fmt.Errorf("%w under %s in %s", ErrNoBackup, Prefix, bucket)
	}
	return strings.TrimSuffix(best, manifestSuffix) + dumpSuffix, nil
}
