package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"maps"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/redub/redub/local/pgstack"
	"github.com/redub/redub/local/stack"
	"github.com/redub/redub/local/template"
	"github.com/redub/redub/shared/backup"
	"github.com/redub/redub/shared/config"
	"github.com/redub/redub/shared/postgres"
	"github.com/redub/redub/shared/storage"
)

const (
	backupUsage  = "redub backup [--bucket B] [--stage S] [--pg-dump PATH]"
	restoreUsage = "redub restore <key|latest> --to <database url> [--bucket B] [--pg-restore PATH]"
)

// runBackup backs the database up now, with the code the daily function
// runs: DATABASE_URL_UNPOOLED into BACKUP_BUCKET (see backupSite).
func runBackup(ctx context.Context, args []string, env *environ) error {
	fs := flag.NewFlagSet("backup", flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	bucket := fs.String("bucket", "", "backups bucket (default BACKUP_BUCKET, or the running local stack's)")
	stage := fs.String("stage", "", "stage that names the dump (default STAGE, or development)")
	pgDump := fs.String("pg-dump", "", "pg_dump to run (default /opt/bin/pg_dump when it exists, else PATH)")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("%w: %s", errUsage, backupUsage)
	}
	site, err := findBackupSite(ctx, env, *bucket)
	if err != nil {
		return err
	}
	if site.dbURL == "" {
		return errors.New("backup: DATABASE_URL_UNPOOLED is not set: a backup needs the direct (unpooled) database URL; set it in the environment or .env.local, or start the local stack (make dev)")
	}
	if *stage == "" {
		*stage = site.getenv("STAGE")
	}
	if *stage == "" {
		*stage = string(config.Development)
	}
	fmt.Fprintf(env.stdout, "backup: %s -> s3://%s (%s)\n", postgres.Redact(site.dbURL), site.bucket, site.where)
	start := time.Now()
	m, err := backup.Backup(ctx, backup.Options{DatabaseURL: site.dbURL, Stage: *stage, Bucket: site.bucket, Store: site.s3, PgDump: *pgDump})
	if err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "backup: wrote s3://%s/%s in %.1fs: %d bytes, sha256 %s, PostgreSQL %s, %s\n",
		site.bucket, m.Key, time.Since(start).Seconds(), m.Size, m.SHA256, m.ServerVersion, m.PgDumpVersion)
	printTables(env, m.Tables)
	return nil
}

// runRestore restores a backup into an empty database.
func runRestore(ctx context.Context, args []string, env *environ) error {
	fs := flag.NewFlagSet("restore", flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	to := fs.String("to", "", "the database to restore into (a postgres:// URL, direct, empty)")
	bucket := fs.String("bucket", "", "backups bucket (default BACKUP_BUCKET, or the running local stack's)")
	pgRestore := fs.String("pg-restore", "", "pg_restore to run (default /opt/bin/pg_restore when it exists, else PATH)")
	// The key may come before or after the flags.
	var key string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		key, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if key == "" && fs.NArg() == 1 {
		key = fs.Arg(0)
	} else if fs.NArg() != 0 {
		return fmt.Errorf("%w: %s", errUsage, restoreUsage)
	}
	if key == "" || *to == "" {
		return fmt.Errorf("%w: %s", errUsage, restoreUsage)
	}
	site, err := findBackupSite(ctx, env, *bucket)
	if err != nil {
		return err
	}
	if key == "latest" {
		if key, err = backup.Latest(ctx, site.s3, site.bucket); err != nil {
			return fmt.Errorf("restore: %w", err)
		}
	}
	fmt.Fprintf(env.stdout, "restore: s3://%s/%s (%s) -> %s\n", site.bucket, key, site.where, postgres.Redact(*to))
	start := time.Now()
	m, err := backup.Restore(ctx, backup.RestoreOptions{Key: key, Bucket: site.bucket, Store: site.s3, TargetURL: *to, PgRestore: *pgRestore})
	if err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "restore: done in %.1fs: the %s backup of %s (%d bytes, sha256 %s verified); row counts match the manifest:\n",
		time.Since(start).Seconds(), m.StartedAt.Format(time.RFC3339), m.Database, m.Size, m.SHA256)
	printTables(env, m.Tables)
	return nil
}

func printTables(env *environ, tables map[string]int64) {
	names := slices.Sorted(maps.Keys(tables))
	width := 0
	for _, t := range names {
		width = max(width, len(t))
	}
	for _, t := range names {
		fmt.Fprintf(env.stdout, "  %-*s %10d\n", width, t, tables[t])
	}
}

// backupSite is where backups are kept and which database is backed up.
type backupSite struct {
	getenv func(string) string
	dbURL  string // the direct URL to back up; "" when unknown
	bucket string
	s3     *s3.Client
	where  string // for the operator: "AWS us-east-1", "the local stack"
}

// findBackupSite decides, in this order:
//   - AWS_ENDPOINT_URL_S3 set: that endpoint (a stand-in), with the
//     environment's AWS credentials or else the local stack's;
//   - a bucket given (--bucket or BACKUP_BUCKET): AWS, with the credentials
//     in the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
//     AWS_SESSION_TOKEN; e.g. `eval "$(aws configure export-credentials --format env)"`);
//   - a local stack running here (make dev): its S3 and backups bucket.
//
// The database is DATABASE_URL_UNPOOLED, or the local stack's when unset
// and the local stack is used. The environment is read with .env.local.
func findBackupSite(ctx context.Context, env *environ, bucket string) (*backupSite, error) {
	getenv, err := config.WithDotEnv(env.getenv, ".env.local")
	if err != nil {
		return nil, err
	}
	site := &backupSite{getenv: getenv, dbURL: getenv("DATABASE_URL_UNPOOLED"), bucket: bucket}
	if site.bucket == "" {
		site.bucket = getenv("BACKUP_BUCKET")
		if err := config.BucketError("BACKUP_BUCKET", site.bucket); site.bucket != "" && err != nil {
			return nil, err
		}
	} else if err := config.BucketError("--bucket", site.bucket); err != nil {
		return nil, err
	}
	region := firstOf(getenv("AWS_REGION"), getenv("STORAGE_REGION"), "us-east-1")
	id, secret, token := getenv("AWS_ACCESS_KEY_ID"), getenv("AWS_SECRET_ACCESS_KEY"), getenv("AWS_SESSION_TOKEN")
	endpoint := getenv("AWS_ENDPOINT_URL_S3")

	switch {
	case endpoint != "":
		if id == "" || secret == "" {
			id, secret, token = stack.AccessKey, stack.SecretKey, ""
		}
		site.where = "S3 at " + endpoint
	case site.bucket != "":
		if id == "" || secret == "" {
			return nil, errors.New("AWS credentials missing: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN), e.g. eval \"$(aws configure export-credentials --format env)\"")
		}
		site.where = "AWS " + region
	default:
		local, err := runningLocalStack(ctx, env.client())
		if err != nil {
			return nil, fmt.Errorf("no backups bucket: set BACKUP_BUCKET (or --bucket) with AWS credentials, or start the local stack (make dev): %w", err)
		}
		endpoint, site.bucket, id, secret, token = local.s3, local.bucket, stack.AccessKey, stack.SecretKey, ""
		if site.dbURL == "" {
			site.dbURL = local.dbURL
		}
		site.where = "the local stack"
	}
	if site.bucket == "" {
		return nil, errors.New("no backups bucket: set BACKUP_BUCKET or pass --bucket")
	}
	cfg := aws.Config{Region: region, Credentials: aws.NewCredentialsCache(credentials.NewStaticCredentialsProvider(id, secret, token))}
	site.s3 = storage.NewClient(cfg, func(k string) string {
		if k == "AWS_ENDPOINT_URL_S3" {
			return endpoint
		}
		return getenv(k)
	})
	return site, nil
}

// localBackups is what a running local stack offers a backup.
type localBackups struct {
	s3, bucket, dbURL string
}

// runningLocalStack finds the local stack running from this repository: its
// S3 endpoint (from its control endpoint), its backups bucket (from the
// template) and its database's direct URL.
func runningLocalStack(ctx context.Context, client *http.Client) (*localBackups, error) {
	root, err := findRoot()
	if err != nil {
		return nil, err
	}
	stateDir := filepath.Join(root, ".dev")
	st, err := stack.ReadState(stateDir)
	if err != nil {
		return nil, err
	}
	body, err := control(ctx, client, http.MethodGet, st.ControlURL+"/status", nil)
	if err != nil {
		return nil, err
	}
	var status stack.Status
	if err := json.Unmarshal(body, &status); err != nil {
		return nil, fmt.Errorf("local stack status: %w", err)
	}
	tpl, err := template.Load(filepath.Join(root, "template.yaml"), template.Locals{
		Parameters: map[string]string{"Stage": string(config.Development)}, QueueURL: func(string) string { return "" },
	})
	if err != nil {
		return nil, err
	}
	b, ok := tpl.Buckets["BackupsBucket"]
	if !ok {
		return nil, errors.New("template.yaml has no BackupsBucket")
	}
	local := &localBackups{s3: status.Endpoints["s3"], bucket: b.Name}
	if pg, err := pgstack.Running(filepath.Join(stateDir, "postgres")); err == nil {
		local.dbURL = pg.DirectURL
	}
	return local, nil
}

func firstOf(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}
