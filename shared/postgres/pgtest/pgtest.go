// Package pgtest gives each test its own database, cloned from a migrated
// template and reached through the pooler, so tests run in parallel against
// real Postgres with the same rules as production.
//
// It needs DATABASE_URL (pooled, PgBouncer in transaction mode) and
// DATABASE_URL_UNPOOLED (direct, allowed to create databases). `make test`
// sets both, starting a throwaway Postgres + PgBouncer when they are unset.
package pgtest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"testing"
	"time"

	"github.com/redub/redub/migrations"
	"github.com/redub/redub/shared/postgres"
)

// URLs are the two ways to reach one test database.
type URLs struct {
	Pooled string // through PgBouncer
	Direct string // straight to Postgres
	Name   string
}

// New returns a DB on a fresh, migrated database reached through the pooler.
// The database is dropped when the test ends.
func New(t testing.TB) *postgres.DB {
	t.Helper()
	u := NewDatabase(t)
	db, err := postgres.New(postgres.Options{URL: u.Pooled})
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(db.Close)
	return db
}

// NewDatabase creates a fresh, migrated database and returns its URLs. The
// database is dropped (with its connections) when the test ends.
func NewDatabase(t testing.TB) URLs {
	t.Helper()
	return newDatabase(t, false)
}

func newDatabase(t testing.TB, empty bool) URLs {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	u, drop, err := Create(ctx, empty)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() {
		if err := drop(); err != nil {
			t.Errorf("pgtest: %v", err)
		}
	})
	return u
}

// Create makes a fresh database (migrated, or with an empty public schema)
// for callers without a testing.TB, such as TestMain; drop removes it.
func Create(ctx context.Context, empty bool) (URLs, func() error, error) {
	pooled, direct := os.Getenv("DATABASE_URL"), os.Getenv("DATABASE_URL_UNPOOLED")
	if pooled == "" || direct == "" {
		return URLs{}, nil, fmt.Errorf("DATABASE_URL and DATABASE_URL_UNPOOLED must be set: run the tests with `make test`, which starts a throwaway Postgres + PgBouncer")
	}
	admin, err := postgres.OpenSQL(direct)
	if err != nil {
		return URLs{}, nil, err
	}
	defer admin.Close()
	tpl, err := ensureTemplate(ctx, admin, direct)
	if err != nil {
		return URLs{}, nil, err
	}
	name := "t_" + randomHex(8)
	if _, err := admin.ExecContext(ctx, fmt.Sprintf(`CREATE DATABASE %s TEMPLATE %s`, name, tpl)); err != nil {
		return URLs{}, nil, fmt.Errorf("create database %s: %w", name, err)
	}
	drop := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		admin, err := postgres.OpenSQL(direct)
		if err != nil {
			return fmt.Errorf("drop %s: %w", name, err)
		}
		defer admin.Close()
		if _, err := admin.ExecContext(ctx, fmt.Sprintf(`DROP DATABASE IF EXISTS %s WITH (FORCE)`, name)); err != nil {
			return fmt.Errorf("drop database %s: %w", name, err)
		}
		return nil
	}
	u := URLs{Name: name}
	if u.Pooled, err = postgres.WithDatabase(pooled, name); err == nil {
		u.Direct, err = postgres.WithDatabase(direct, name)
	}
	if err == nil && empty {
		err = emptySchema(ctx, u.Direct)
	}
	if err != nil {
		_ = drop()
		return URLs{}, nil, err
	}
	return u, drop, nil
}

func emptySchema(ctx context.Context, direct string) error {
	db, err := postgres.OpenSQL(direct)
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `DROP SCHEMA public CASCADE; CREATE SCHEMA public`); err != nil {
		return fmt.Errorf("empty schema: %w", err)
	}
	return nil
}

// NewEmptyDatabase creates a database with no tables at all (for migration
// and restore tests) and returns its URLs; it is dropped when the test ends.
func NewEmptyDatabase(t testing.TB) URLs {
	t.Helper()
	return newDatabase(t, true)
}

// ensureTemplate creates (once per migration set) a migrated template
// database. A lock serialises the test binaries that race to build it.
func ensureTemplate(ctx context.Context, admin *sql.DB, direct string) (string, error) {
	sum, err := migrationsHash()
	if err != nil {
		return "", err
	}
	tpl := "redub_tpl_" + sum
	conn, err := admin.Conn(ctx)
	if err != nil {
		return "", fmt.Errorf("connect to %s: %w", postgres.Redact(direct), err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock(7219301)`); err != nil {
		return "", fmt.Errorf("lock template: %w", err)
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock(7219301)`) //nolint:errcheck // the lock dies with the connection anyway

	var exists bool
	if err := conn.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, tpl).Scan(&exists); err != nil {
		return "", fmt.Errorf("look up template: %w", err)
	}
	if exists {
		return tpl, nil
	}
	building := tpl + "_building"
	if _, err := conn.ExecContext(ctx, fmt.Sprintf(`DROP DATABASE IF EXISTS %s WITH (FORCE)`, building)); err != nil {
		return "", fmt.Errorf("drop stale template: %w", err)
	}
	if _, err := conn.ExecContext(ctx, fmt.Sprintf(`CREATE DATABASE %s`, building)); err != nil {
		return "", fmt.Errorf("create template: %w", err)
	}
	u, err := postgres.WithDatabase(direct, building)
	if err != nil {
		return "", err
	}
	db, err := postgres.OpenSQL(u)
	if err != nil {
		return "", err
	}
	_, err = migrations.Up(ctx, db)
	db.Close()
	if err != nil {
		return "", fmt.Errorf("migrate template: %w", err)
	}
	if _, err := conn.ExecContext(ctx, fmt.Sprintf(`ALTER DATABASE %s RENAME TO %s`, building, tpl)); err != nil {
		return "", fmt.Errorf("publish template: %w", err)
	}
	return tpl, nil
}

func migrationsHash() (string, error) {
	h := sha256.New()
	err := fs.WalkDir(migrations.FS(), ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(migrations.FS(), path)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s\x00%d\x00", path, len(b))
		h.Write(b)
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("hash migrations: %w", err)
	}
	return hex.EncodeToString(h.Sum(nil))[:12], nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// AdminURL returns the direct URL of the test server's maintenance database,
// for tests that create databases themselves.
func AdminURL(t testing.TB) string {
	t.Helper()
	direct := os.Getenv("DATABASE_URL_UNPOOLED")
	if direct == "" {
		t.Fatal("pgtest: DATABASE_URL_UNPOOLED must be set: run the tests with `make test`")
	}
	return direct
}
