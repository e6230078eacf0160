// Package ratelimit limits requests with fixed-window counters stored in
// Postgres, shared by every Lambda execution environment, and puts the limit
// in front of HTTP handlers as middleware.
//
// # Counting
//
// Time is cut into windows aligned on the Unix epoch (a one-minute window runs
// from hh:mm:00 to hh:mm+1:00). Each (bucket, window) has one row in
// rate_limits, and Allow counts a request with one statement:
//
//	INSERT INTO rate_limits AS r (bucket, window_start, count, expires_at)
//	VALUES ($1, $2, 1, $3)
//	ON CONFLICT (bucket, window_start) DO UPDATE SET count = r.count + 1
//	WHERE r.count < $4
//	RETURNING count
//
// Postgres makes the upsert atomic: concurrent callers on the same row queue on
// its lock, and each re-reads the latest count before incrementing it, so under
// any concurrency exactly limit calls per window get a row back (allowed) and
// the rest get none (refused). There is no read-then-write and no transaction,
// so the statement runs as-is through a transaction-mode pooler (PgBouncer,
// Neon). The WHERE clause keeps a refused request from counting: a flood
// against a full bucket briefly locks the row but writes no new row version
// (no dead tuples for vacuum), and count never grows past limit.
//
// Fixed windows are the simplest scheme that needs one row and one statement
// per check. Their known cost is a burst at a window edge: a caller can spend
// a full window's allowance at its end and another at the start of the next.
// The limits here are abuse guards, not billing, and API Gateway throttling
// sits in front of them, so that burst is acceptable.
//
// Window boundaries come from the injected clock of each Limiter, that is from
// the Lambda environments' NTP-synchronised clocks. A skew of milliseconds only
// moves which window a request near an edge lands in.
//
// # Expiry
//
// Each row's expires_at is its window's end plus a margin (one minute), and
// Cleanup deletes the rows whose expires_at has passed; a scheduled sweeper
// calls it. The margin keeps a window's row alive a little after the window
// ends, so a request from an environment whose clock is slightly behind still
// finds the count instead of recreating the row at 1.
//
// # HTTP
//
// Middleware counts each request in the bucket name + ":" + key(r) and answers
// with the RateLimit-* headers of the IETF draft and, once the limit is
// reached, 429 problem+json with Retry-After. When the database cannot be
// reached it lets the request through; see Middleware for why.
package ratelimit
