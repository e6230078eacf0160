package migrations

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"

	"github.com/pressly/goose/v3"
)

// NewProvider returns a goose provider over the embedded migrations for db.
// It fails when the embedded files are malformed.
func NewProvider(db *sql.DB) (*goose.Provider, error) {
	sub, err := fs.Sub(files, ".")
	if err != nil {
		return nil, fmt.Errorf("migrations: open embedded files: %w", err)
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, sub)
	if err != nil {
		return nil, fmt.Errorf("migrations: new provider: %w", err)
	}
	return p, nil
}

// Up applies every pending migration to db and returns the versions applied.
func Up(ctx context.Context, db *sql.DB) ([]int64, error) {
	p, err := NewProvider(db)
	if err != nil {
		return nil, err
	}
	res, err := p.Up(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrations: up: %w", err)
	}
	return versions(res), nil
}

// DownTo reverts migrations until version is the newest applied (0 reverts all).
func DownTo(ctx context.Context, db *sql.DB, version int64) ([]int64, error) {
	p, err := NewProvider(db)
	if err != nil {
		return nil, err
	}
	res, err := p.DownTo(ctx, version)
	if err != nil {
		return nil, fmt.Errorf("migrations: down to %d: %w", version, err)
	}
	return versions(res), nil
}

// Latest returns the newest embedded migration version.
func Latest() (int64, error) {
	entries, err := fs.Glob(files, "0*.sql")
	if err != nil {
		return 0, fmt.Errorf("migrations: list embedded migrations: %w", err)
	}
	if len(entries) == 0 {
		return 0, errors.New("migrations: no embedded migrations")
	}
	var v int64
	if _, err := fmt.Sscanf(entries[len(entries)-1], "%d_", &v); err != nil {
		return 0, fmt.Errorf("migrations: parse version of %s: %w", entries[len(entries)-1], err)
	}
	return v, nil
}

func versions(res []*goose.MigrationResult) []int64 {
	out := make([]int64, 0, len(res))
	for _, r := range res {
		out = append(out, r.Source.Version)
	}
	return out
}

// Down reverts the newest applied migration.
func Down(ctx context.Context, db *sql.DB) ([]int64, error) {
	p, err := NewProvider(db)
	if err != nil {
		return nil, err
	}
	res, err := p.Down(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrations: down: %w", err)
	}
	return versions([]*goose.MigrationResult{res}), nil
}

// Status lists each migration with its state, one line each.
func Status(ctx context.Context, db *sql.DB) ([]string, error) {
	p, err := NewProvider(db)
	if err != nil {
		return nil, err
	}
	st, err := p.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrations: status: %w", err)
	}
	out := make([]string, 0, len(st))
	for _, s := range st {
		line := fmt.Sprintf("%05d %-40s %s", s.Source.Version, s.Source.Path, s.State)
		if !s.AppliedAt.IsZero() {
			line += " " + s.AppliedAt.UTC().Format("2006-01-02T15:04:05Z")
		}
		out = append(out, line)
	}
	return out, nil
}
