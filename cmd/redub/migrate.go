package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/redub/redub/migrations"
	"github.com/redub/redub/shared/config"
	"github.com/redub/redub/shared/postgres"
)

// runMigrate applies, reverts or checks migrations against DATABASE_URL_UNPOOLED
// (the direct URL: migrations never go through the transaction pooler).
func runMigrate(ctx context.Context, args []string, env *environ) error {
	if len(args) != 1 {
		return fmt.Errorf("%w: redub migrate up|down|status|check|snapshot", errUsage)
	}
	getenv, err := config.WithDotEnv(env.getenv, ".env.local")
	if err != nil {
		return err
	}
	url := getenv("DATABASE_URL_UNPOOLED")
	if url == "" {
		return errors.New("migrate: DATABASE_URL_UNPOOLED is not set: migrations need the direct (unpooled) database URL; set it in the environment or .env.local")
	}
	switch args[0] {
	case "check":
		want, err := os.ReadFile(migrations.SnapshotFile)
		if err != nil {
			return fmt.Errorf("migrate check: read snapshot (run from the repository root): %w", err)
		}
		if _, err := migrations.Check(ctx, url, string(want)); err != nil {
			return err
		}
		fmt.Fprintf(env.stdout, "migrate check: ok: migrations apply to an empty database, match %s, and round-trip down and up\n", migrations.SnapshotFile)
		return nil
	case "snapshot":
		got, err := migrations.Check(ctx, url, "")
		if err != nil && !errors.Is(err, migrations.ErrStaleSnapshot) {
			return err
		}
		if err := os.WriteFile(migrations.SnapshotFile, []byte(got), 0o644); err != nil {
			return fmt.Errorf("migrate snapshot: %w", err)
		}
		fmt.Fprintf(env.stdout, "migrate snapshot: wrote %s\n", migrations.SnapshotFile)
		return nil
	}

	db, err := postgres.OpenSQL(url)
	if err != nil {
		return err
	}
	defer db.Close()
	switch args[0] {
	case "up":
		applied, err := migrations.Up(ctx, db)
		if err != nil {
			return err
		}
		fmt.Fprintf(env.stdout, "migrate up: applied %d migration(s) %v to %s\n", len(applied), applied, postgres.Redact(url))
	case "down":
		reverted, err := migrations.Down(ctx, db)
		if err != nil {
			return err
		}
		fmt.Fprintf(env.stdout, "migrate down: reverted %v on %s\n", reverted, postgres.Redact(url))
	case "status":
		st, err := migrations.Status(ctx, db)
		if err != nil {
			return err
		}
		for _, s := range st {
			fmt.Fprintln(env.stdout, s)
		}
	default:
		return fmt.Errorf("%w: unknown migrate command %q", errUsage, args[0])
	}
	return nil
}
