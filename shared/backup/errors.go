package backup

import (
	"errors"
	"fmt"
	"strconv"
)

// ErrTargetNotEmpty is returned by Restore when the target database already
// holds tables, views or sequences: a restore goes into an empty database.
var ErrTargetNotEmpty = errors.New("the target database is not empty")

// ErrCountMismatch is returned by Restore when the restored tables do not
// hold the row counts the manifest recorded.
var ErrCountMismatch = errors.New("restored row counts differ from the manifest")

// ErrNoBackup is returned by Latest when the bucket holds no complete backup.
var ErrNoBackup = errors.New("no backup found")

// VersionError reports a PostgreSQL client program older than what it must
// work with: pg_dump older than the server, or pg_restore older than the
// pg_dump that wrote the archive. Versions are major versions (17; 9.6 is
// 906).
type VersionError struct {
	Program string // "pg_dump" or "pg_restore"
	Have    int    // the program's major version
	Need    int    // pg_dump: the server's major version; pg_restore: the archive's pg_dump major version
}

// Error names both versions and the fix.
func (e *VersionError) Error() string {
	have, need := majorName(e.Have), majorName(e.Need)
	if e.Program == "pg_restore" {
		return fmt.Sprintf("pg_restore %s cannot restore a dump written by pg_dump %s; use pg_restore %s or newer (the PgToolsLayer built with PG_MAJOR=%s, or postgresql-client-%s)",
			have, need, need, need, need)
	}
	return fmt.Sprintf("%s %s cannot dump a PostgreSQL %s server; build the PgToolsLayer with PG_MAJOR=%s", e.Program, have, need, need)
}

// ChecksumError reports a downloaded dump that is not the one the manifest
// describes: Restore refuses it before pg_restore sees it.
type ChecksumError struct {
	Key                string
	WantSHA256, SHA256 string
	WantSize, Size     int64
}

// Error names the key and both sums.
func (e *ChecksumError) Error() string {
	return fmt.Sprintf("%s does not match its manifest: sha256 %s, %d bytes; the manifest says sha256 %s, %d bytes (corrupted or replaced; restore another backup)",
		e.Key, e.SHA256, e.Size, e.WantSHA256, e.WantSize)
}

// majorName prints a major version as PostgreSQL does: 17, or 9.6 before 10.
func majorName(m int) string {
	if m >= 100 {
		return strconv.Itoa(m/100) + "." + strconv.Itoa(m%100)
	}
	return strconv.Itoa(m)
}
