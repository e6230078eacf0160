// Package backup writes the database to S3 with pg_dump and reads it back
// with pg_restore: the daily backup function, `redub backup` and
// `redub restore` all call it.
//
// # What a backup is
//
// Backup streams `pg_dump --format=custom --no-owner --no-acl` of the direct
// (unpooled) database URL into the backups bucket as a multipart upload: the
// dump goes from pg_dump's stdout through an io.Pipe into parts of
// Options.PartSize (two parts in memory at most, one being read while the
// other uploads), and its SHA-256 is computed on the way. Nothing touches
// the disk, so the function needs no ephemeral storage. The key is dated:
//
//	db/<YYYY>/<MM>/<DD>/redub-<stage>-<YYYYMMDD>T<HHMMSS>Z.dump
//
// Only once the upload is complete does Backup write the manifest next to
// it (the same name ending in .manifest.json): key, size, SHA-256, server and
// pg_dump versions, start and finish times, and the exact row count of every
// table. A dump without a manifest is an unfinished backup; Latest and
// Restore ignore it. A failed pg_dump or upload aborts the multipart upload,
// so no partial object is ever written (the bucket's lifecycle rule removes
// any upload a killed function leaves behind).
//
// The row counts and the dump see the same data: Backup opens a
// REPEATABLE READ transaction, exports its snapshot (pg_export_snapshot),
// counts the rows in it and hands it to pg_dump (--snapshot), keeping the
// transaction open until pg_dump exits. That is why Restore can check the
// restored tables against the manifest even when the database was busy
// while it was dumped. It needs a direct connection: an exported snapshot
// and a session held across statements do not survive a transaction-mode
// pooler.
//
// # Versions
//
// pg_dump refuses a server newer than itself half way through, or worse,
// older releases wrote dumps that did not restore. Backup asks both first
// (`pg_dump --version`, server_version_num) and refuses a pg_dump whose
// major version is below the server's with a *VersionError that names both
// and the fix (the PgToolsLayer's PG_MAJOR). Restore does the same for a
// pg_restore older than the pg_dump that wrote the archive.
//
// # Restore
//
// Restore reads the manifest, refuses a target database that already has
// tables (ErrTargetNotEmpty), downloads the dump to a temporary file while
// hashing it, refuses a size or checksum that differs from the manifest
// (*ChecksumError), runs `pg_restore --no-owner --no-acl --exit-on-error
// --single-transaction` (so a failed restore leaves the target empty), and
// finally counts the restored rows against the manifest (ErrCountMismatch).
//
// # Programs and passwords
//
// pg_dump and pg_restore are taken from /opt/bin (the PgToolsLayer) when it
// exists, otherwise from PATH, unless a path is given. The database password
// reaches them through PGPASSWORD, never their command line, which every
// process on the host can read.
package backup
