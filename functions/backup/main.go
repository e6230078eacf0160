// Command backup runs daily: it streams a pg_dump of the database (the direct
// URL, DATABASE_URL_UNPOOLED) into the backups bucket (BACKUP_BUCKET) with a
// checksum and a manifest; `redub restore` reads it back. See shared/backup.
package main

import (
	"context"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/redub/redub/shared/backup"
	"github.com/redub/redub/shared/config"
	"github.com/redub/redub/shared/lambdarun"
	"github.com/redub/redub/shared/storage"
)

func main() {
	lambdarun.Main("backup", setup)
}

func setup(ctx context.Context, app *lambdarun.App) (any, error) {
	bucket := app.Config.Pipeline.BackupBucket
	if bucket == "" {
		return nil, &config.VarError{Name: "BACKUP_BUCKET", Reason: "is required by the backup function (the template sets it to the backups bucket)"}
	}
	if app.Config.DatabaseURLUnpooled == "" {
		return nil, &config.VarError{Name: "DATABASE_URL_UNPOOLED", Reason: "is required by the backup function: pg_dump needs the direct (unpooled) database URL"}
	}
	awsCfg, err := app.AWS(ctx)
	if err != nil {
		return nil, err
	}
	opts := backup.Options{
		DatabaseURL: app.Config.DatabaseURLUnpooled, Stage: string(app.Config.Stage),
		Bucket: bucket, Store: storage.NewClient(awsCfg, app.Getenv),
	}
	return lambdarun.Scheduled(app, func(ctx context.Context, _ events.EventBridgeEvent) error {
		start := time.Now()
		m, err := backup.Backup(ctx, opts)
		if err != nil {
			return err
		}
		app.Log.InfoContext(ctx, "backup written", "key", m.Key, "bytes", m.Size, "sha256", m.SHA256,
			"tables", len(m.Tables), "server_version", m.ServerVersion, "duration_ms", time.Since(start).Milliseconds())
		return nil
	}), nil
}
