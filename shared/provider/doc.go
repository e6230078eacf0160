// Package provider calls paid HTTP APIs (OpenAI, ElevenLabs) carefully: it
// retries what is worth retrying, waits as long as the provider asks, stops at
// once on what no retry can fix, and turns every failure into an *Error a
// person can act on.
//
// # What is retried
//
// Do sends a request up to Policy.MaxAttempts times. It retries network
// errors and the statuses that say "try again later": 408, 429, 500, 502, 503
// and 504. Every other status of 300 or more is permanent (400, 401, 403, 404,
// 413, 422, ...), and so is a 429 whose error code says the account is out of
// money (OpenAI's insufficient_quota): waiting does not refill a balance.
//
// # How long it waits
//
// When the answer carries OpenAI's retry-after-ms header or a standard
// Retry-After (seconds or an HTTP date), Do waits exactly that long. Otherwise
// it waits a random time between zero and BaseDelay*2^(attempt-1), capped at
// MaxDelay ("full jitter"), so that many Lambdas hit by the same outage do not
// come back in step.
//
// Do never starts a wait it cannot finish: when the provider asks for more
// than MaxDelay, or the wait would pass the context's deadline, it returns the
// (non-permanent) *Error at once, with RetryAfter set, so the caller can give
// the job back to its queue instead of paying for a Lambda that sleeps.
//
// # Pacing
//
// A step sends several requests to one provider at once (the pieces of a
// transcription, the segments of a voiceover). A Pacer, shared through
// Policy.Pacer by every client of that provider in the invocation, keeps at
// most its limit in flight: a request holds its slot from sending until the
// answer's body is closed. When an answer is a 429, or asks to wait with
// Retry-After, the Pacer holds every request to that provider, in flight
// or waiting, until the wait has passed: one sleeper waits it out and the
// others wait on it, instead of each goroutine learning the same lesson
// from its own 429. A second hint during a hold extends it to the later
// end. A request that would have to wait longer than MaxDelay, or past its
// context's deadline, gets the *Error that started the hold at once, as
// for its own 429.
//
// # Errors
//
// Failures are *Error values (find them with errors.As, or ask Permanent).
// Their text names the provider, the status and, for a refused key, the
// environment variable to check. API keys are never part of it: the values of
// the request's credential headers, and anything shaped like an API key
// ("sk-..."), are removed from the provider's message before it is kept.
//
// When the context ends, Do returns an error that wraps both the context's
// error (errors.Is(err, context.DeadlineExceeded)) and the last *Error, if
// there was one.
package provider
