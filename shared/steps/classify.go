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

// Describe says in plain words what a step's error means to the person whose
// job it is: no FFmpeg stderr, no S3 error text, no variable names (those are
// in the logs).
func Describe(err error) (string, bool) {
	var rej *media.RejectError
	if errors.As(err, &rej) {
		return rej.Reason, true
	}
	var ee *media.ExecError
	if errors.As(err, &ee) {
		if ee.TimedOut {
			return "processing the media took too long and was stopped", true
		}
		return "the media could not be processed", true
	}
	var pe *provider.Error
	if errors.As(err, &pe) {
		who := pe.Provider
		if who == "" {
			who = "the speech provider"
		}
		switch {
		case pe.Status == 0:
			return who + " could not be reached", true
		case provider.QuotaCode(pe.Code):
			return who + " says the account is out of quota or credits", true
		case pe.Status == 401 || pe.Status == 403:
			return who + " refused this service's API key; its operator must renew it", true
		case pe.Status == 429:
			return who + " kept refusing for too many requests", true
		case pe.Status >= 500:
			return who + " had a server error", true
		}
		return who + " refused the request", true
	}
	return "", false
}
