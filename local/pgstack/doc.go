// Package pgstack runs a throwaway PostgreSQL server with PgBouncer in front
// of it, for tests and for the local stack.
//
// The pair stands in for Neon: PgBouncer runs in transaction mode, so code that
// works through [Stack.PooledURL] here works through Neon's pooler, and
// [Stack.DirectURL] plays the part of Neon's unpooled endpoint (the role is a
// superuser, so tests can CREATE and DROP databases there).
//
// # Layout
//
// Everything lives in [Options.Dir]:
//
//	data/            the cluster, made by initdb on the first Start and reused after
//	pgbouncer.ini    rewritten on every Start (the ports change)
//	pgbouncer.pid    PgBouncer's pid file
//	postgres.log     server output of the current run (truncated on Start)
//	pgbouncer.log    pooler output of the current run
//	initdb.log       output of the initdb run
//	stack.json       ports, pids and URLs of the running stack, for Running
//	lock             held (flock) by the process that started the stack
//
// Unix sockets go into the same directory; when its path is too long for a
// socket name they go into a short directory under os.TempDir instead.
//
// # Running as root
//
// initdb, postgres and pgbouncer all refuse to run as root, so a root caller
// runs them as the postgres system user that Debian's postgresql package
// creates. That user usually cannot reach Options.Dir (t.TempDir and mktemp -d
// make 0700 directories under /tmp), so as root the cluster, sockets, pid file
// and pgbouncer.ini live in /var/tmp/redub-<hash of Dir>, owned by postgres,
// and Dir keeps only the logs, the state file and a "location" file naming the
// real directory. [Remove] deletes both.
//
// # Lifetime
//
// The servers run in their own session, so a Ctrl-C aimed at the caller's
// process group does not reach them. Unless [Options.Detach] is set they get a
// parent-death signal, so a test binary that is killed takes its servers with
// it. A stack left behind by a killed caller is found on the next Start through
// the pid files and stopped; a stack whose starter is still alive (it holds the
// lock) makes Start fail with [ErrBusy] instead of being taken over.
//
// # Pooling caveats (PgBouncer 1.18)
//
//   - There is no prepared-statement support in transaction mode. pgx's default
//     QueryExecModeCacheStatement fails intermittently with "prepared statement
//     ... does not exist"; use QueryExecModeExec, CacheDescribe or
//     SimpleProtocol through PooledURL.
//   - Session state (SET, advisory locks, LISTEN, temporary tables) does not
//     survive the end of a transaction.
//   - PgBouncer keeps idle server connections to every database it has seen
//     for server_idle_timeout (10s), so dropping a database needs
//     DROP DATABASE ... WITH (FORCE).
//   - search_path and extra_float_digits in the startup packet are ignored, not
//     applied.
package pgstack
