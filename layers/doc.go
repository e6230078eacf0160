// Package layers holds the build scripts of the project's Lambda layers and
// the tests that prove each layer runs with nothing from the host.
//
// Each layer is built by a bash script that SAM's makefile build method runs
// through `make build-<LogicalId>`:
//
//   - ffmpeg/build.sh (FFmpegLayer): Debian's ffmpeg and ffprobe.
//   - pgtools/build.sh (PgToolsLayer): pg_dump, pg_restore and psql from
//     Debian's postgresql-client-$PG_MAJOR, for the daily backup.
//
// Both copy the real programs, every shared library in their ldd closure and
// the dynamic loader, then patch the programs with patchelf so that their
// interpreter is $PREFIX/lib/ld-linux-x86-64.so.2 and their DT_RPATH is
// $PREFIX/lib. PREFIX is /opt, where Lambda mounts layers; the tests build
// with PREFIX set to a temporary directory so the layer runs where it was
// built. bundle.sh holds the steps the two scripts share; README.md has the
// sizes, the licences and the build commands.
//
// The package has no Go code of its own: the tests are its content.
package layers
