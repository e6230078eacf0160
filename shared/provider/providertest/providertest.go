// Package providertest holds what the in-process fakes of the paid
// providers (openaitest, elevenlabstest) share.
package providertest

import (
	"net/http"
	"sync"
)

// InFlight counts the requests a fake is answering at once, from arrival
// to the handler's return. Embed it in a fake's server and wrap its mux
// with Track; MaxInFlight and ResetMaxInFlight are then the server's.
type InFlight struct {
	mu       sync.Mutex
	inFlight int
	maxIn    int
}

// Track wraps h so that its requests are counted.
func (f *InFlight) Track(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.inFlight++
		f.maxIn = max(f.maxIn, f.inFlight)
		f.mu.Unlock()
		defer func() {
			f.mu.Lock()
			f.inFlight--
			f.mu.Unlock()
		}()
		h.ServeHTTP(w, r)
	})
}

// MaxInFlight returns the most requests the fake was answering at once,
// to any endpoint, since it started or since the last ResetMaxInFlight.
func (f *InFlight) MaxInFlight() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.maxIn
}

// ResetMaxInFlight starts MaxInFlight again from the requests in flight now.
func (f *InFlight) ResetMaxInFlight() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.maxIn = f.inFlight
}
