package migrations

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/redub/redub/shared/postgres"
)

// ErrStaleSnapshot means the migrations no longer produce the committed snapshot.
var ErrStaleSnapshot = errors.New("schema snapshot is stale")

// Check applies every migration to a new, empty database on the server at
// adminURL (a direct URL allowed to create databases), compares the schema
// with snapshot, then reverts everything, checks nothing is left, and applies
// them again to check the round trip gives the same schema. The scratch
// database is dropped afterwards. A mismatch with the snapshot wraps
// ErrStaleSnapshot and includes a line diff.
func Check(ctx context.Context, adminURL, snapshot string) (string, error) {
	admin, err := postgres.OpenSQL(adminURL)
	if err != nil {
		return "", err
	}
	defer admin.Close()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "migrate_check_" + hex.EncodeToString(b)
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		return "", fmt.Errorf("migrate check: create scratch database on %s: %w", postgres.Redact(adminURL), err)
	}
	defer admin.ExecContext(context.WithoutCancel(ctx), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)") //nolint:errcheck // best effort cleanup

	u, err := postgres.WithDatabase(adminURL, name)
	if err != nil {
		return "", err
	}
	db, err := postgres.OpenSQL(u)
	if err != nil {
		return "", err
	}
	defer db.Close()

	if _, err := Up(ctx, db); err != nil {
		return "", fmt.Errorf("migrate check: apply to an empty database: %w", err)
	}
	first, err := Schema(ctx, db)
	if err != nil {
		return "", err
	}
	if first != snapshot {
		return first, fmt.Errorf("%w: run `make migrate-snapshot` and commit %s\n%s", ErrStaleSnapshot, SnapshotFile, Diff(snapshot, first))
	}
	if _, err := DownTo(ctx, db, 0); err != nil {
		return first, fmt.Errorf("migrate check: revert all: %w", err)
	}
	empty, err := Schema(ctx, db)
	if err != nil {
		return first, err
	}
	if empty != snapshotHeader {
		return first, fmt.Errorf("migrate check: reverting every migration leaves objects behind:\n%s", Diff(snapshotHeader, empty))
	}
	if _, err := Up(ctx, db); err != nil {
		return first, fmt.Errorf("migrate check: re-apply after revert: %w", err)
	}
	second, err := Schema(ctx, db)
	if err != nil {
		return first, err
	}
	if second != first {
		return first, fmt.Errorf("migrate check: down-then-up changes the schema:\n%s", Diff(first, second))
	}
	return first, nil
}

// Diff returns the lines only in want ("-") and only in got ("+"), in order.
func Diff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	inW, inG := map[string]int{}, map[string]int{}
	for _, l := range w {
		inW[l]++
	}
	for _, l := range g {
		inG[l]++
	}
	var b strings.Builder
	for _, l := range w {
		if inG[l] == 0 {
			b.WriteString("- " + l + "\n")
		}
	}
	for _, l := range g {
		if inW[l] == 0 {
			b.WriteString("+ " + l + "\n")
		}
	}
	return b.String()
}
