package steps

import (
	"errors"
	"time"

	"github.com/redub/redub/shared/ledger"
	"github.com/redub/redub/shared/media"
	"github.com/redub/redub/shared/provider"
)

// Classify sorts the errors of providers and FFmpeg for the pipeline runner:
// a provider's refusal (bad key, refused input, no quota) and media that
// FFmpeg cannot handle fail the job at once; rate limits, 5xx, network
// errors, a call in flight elsewhere and a killed process are retried.
func Classify(err error) (permanent, known bool) {
	var pe *provider.Error
	if errors.As(err, &pe) {
		return pe.Permanent, true
	}
	if errors.Is(err, ledger.ErrInFlight) {
		return false, true
	}
	var rej *media.RejectError
	if errors.As(err, &rej) {
		return true, true
	}
	var ee *media.ExecError
	if errors.As(err, &ee) {
		// A timeout repeats on retry; an exit code means FFmpeg refused the
		// input. A signal (killed, out of memory) may not happen again.
		return ee.TimedOut || ee.ExitCode > 0, true
	}
	return false, false
}

// RetryDelay is how long a transient error asks to wait before the step is
// tried again: a provider's Retry-After, or what is left of the lease of a
// paid call that is in flight elsewhere.
func RetryDelay(err error) (time.Duration, bool) {
	var pe *provider.Error
	if errors.As(err, &pe) && pe.RetryAfter > 0 {
		return pe.RetryAfter, true
	}
	var inflight *ledger.InFlightError
	if errors.As(err, &inflight) && inflight.RetryAfter > 0 {
		return inflight.RetryAfter, true
	}
	return 0, false
}
