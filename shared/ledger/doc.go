// Package ledger makes sure a paid provider call (OpenAI, ElevenLabs) is paid
// for once, however often SQS delivers the message that asks for it.
//
// Every call is a row of provider_calls keyed by Hash: the SHA-256 of the
// canonical JSON of the provider, the operation and the request (everything
// that decides the result: model, options, the input or a digest of it).
// Ledger.Do looks the hash up; a call that already succeeded returns its
// stored outcome without calling the provider again. JSON results (a
// transcript, a translation) are stored in the row; binary results (audio)
// are written by the caller to S3 under a deterministic key before fn
// returns, and only that key is stored (Outcome.ResultKey).
//
// A request that does not name its job (say, it carries a digest of the audio
// rather than its object key) is shared across jobs: a second job asking the
// same thing reuses the first one's outcome. Callers that want one call per
// job put the job ID in the request.
//
// # Claims and leases
//
// Two Lambdas may run the same call at once: SQS redelivers a message while
// the first delivery still runs, or the sweeper re-enqueues a slow step. The
// row is their lock, claimed with a single upsert:
//
//	INSERT INTO provider_calls AS p (...) VALUES (..., 'pending', 1)
//	ON CONFLICT (request_hash) DO UPDATE
//	SET status = 'pending', attempts = p.attempts + 1, updated_at = now(), ...
//	WHERE p.status = 'failed'
//	   OR (p.status = 'pending' AND p.updated_at <= now() - <lease>)
//	RETURNING id, attempts
//
// Postgres serialises concurrent upserts of one key on the row (an insert
// racing an insert waits for the first to commit, then re-checks the WHERE
// on the new row), so exactly one caller gets a row back and holds the call.
// The others find the row pending with a live lease and get ErrInFlight, a
// retryable error: they may wait for the outcome (Options.Wait) or give the
// message back to the queue. Each statement runs on its own, with no
// transaction held across the provider call, so it all works through a
// transaction-mode pooler (PgBouncer, Neon).
//
// The lease has no column of its own: updated_at is the lease clock, and a
// pending row's lease ends at updated_at + Options.Lease, always by the
// database's clock (now()), so Lambdas' clocks never disagree about it. The
// holder renews it (updated_at = now()) every Lease/3 while the provider
// call runs, so a short lease (30 s by default) is safe for long calls and a
// holder that dies (timeout, out of memory) frees the call within one lease.
// attempts is the fencing token: renewals and the failure record only apply
// while attempts is still the holder's own, so a holder that lost its lease
// cannot mark someone else's attempt failed, and learns it lost the lease
// (its context is canceled with ErrLeaseLost). A success is always stored,
// unless another holder's success already is: the call was paid either way.
//
// # What a lease cannot prevent
//
// A holder that is frozen (not dead) for longer than a lease, then sends its
// request, pays a second time alongside the holder that took over. Renewal
// every Lease/3 and canceling fn once the lease is lost make that window small;
// the provider's own idempotency keys, where it has them, close it.
package ledger
