package steps

import (
	"context"
	"errors"
	"slices"
	"sync"

	"github.com/redub/redub/shared/ledger"
)

// inParallel runs fn(ctx, i) for every i in [0, count), at most limit at a
// time (at least one), and returns the first error: after it, no further i
// starts. The ones running are left to finish, not canceled: each may be a
// paid call in flight, and one that finishes is recorded in the ledger, so
// the step's retry does not pay for it again. (A canceled job stops them
// through its own check and ctx.) Callers keep each i's result in its own
// slot and put them together in order afterwards, so the outcome does not
// depend on which finished first.
//
// An i whose paid call the ledger finds in flight (ledger.ErrInFlight) runs
// again, alone, once the others are done. Two pieces or segments of one job
// can ask the ledger the very same thing (two identical silent pieces, one
// line said twice by one voice between the same neighbours); one after the
// other the second reuses the first's outcome, and so it does here. If the
// call is still in flight then (another worker holds it), that error is
// returned.
func inParallel(ctx context.Context, limit, count int, fn func(ctx context.Context, i int) error) error {
	var (
		mu    sync.Mutex
		first error
		again []int
		wg    sync.WaitGroup
	)
	next := make(chan int)
	failed := make(chan struct{})
	for range min(max(limit, 1), count) {
		wg.Go(func() {
			for i := range next {
				err := fn(ctx, i)
				mu.Lock()
				switch {
				case err == nil:
				case errors.Is(err, ledger.ErrInFlight):
					again = append(again, i)
				case first == nil:
					first = err
					close(failed)
				}
				mu.Unlock()
			}
		})
	}
feed:
	for i := range count {
		select {
		case next <- i:
		case <-failed:
			break feed
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if first != nil {
		return first
	}
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	slices.Sort(again)
	for _, i := range again {
		if err := fn(ctx, i); err != nil {
			return err
		}
	}
	return nil
}
