package config

// childPath is the PATH of a child program: the Lambda layers' /opt/bin
// first, then the system's.
const childPath = "/opt/bin:/usr/local/bin:/usr/bin:/bin"

// ChildEnv returns the whole environment of a program a function runs
// (ffmpeg, ffprobe, espeak-ng, pocketsphinx, pg_dump, pg_restore): a fixed
// PATH and locale, then extra ("PGPASSWORD=..." for the one tool that needs
// a secret). Nothing is copied from the function's own environment, so no
// AWS_* credential, database URL or provider key reaches a tool that reads
// untrusted input. The layers' binaries find their libraries through their
// own run paths (layers/bundle.sh), not LD_LIBRARY_PATH.
func ChildEnv(extra ...string) []string {
	return append([]string{"PATH=" + childPath, "LANG=C.UTF-8"}, extra...)
}
