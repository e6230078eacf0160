// Package postgres is the database layer every function shares: a pgx v5 pool
// made for a transaction-mode pooler, and the one transaction helper.
//
// In AWS the pool talks to Neon's pooled endpoint; locally and in tests, to
// PgBouncer in transaction mode. Both forbid session state, so nothing here
// relies on it: no session SET, no LISTEN, no session advisory locks, no SQL
// PREPARE. The default exec mode ("exec") sends each query in one round trip
// with an unnamed statement, which PgBouncer 1.18 and Neon both accept; the
// statement-cache modes fail through PgBouncer 1.18 (see LOCAL-STACK.md).
//
// A Lambda execution environment serves one request at a time, so the pool is
// small (MaxConns 2), idle connections close well before Neon suspends a
// compute (5 minutes), and every acquire has its own deadline so a saturated
// pooler gives a clear error instead of a hung invocation. New does no I/O:
// the first query opens the first connection.
package postgres
