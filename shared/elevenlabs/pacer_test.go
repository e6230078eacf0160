package elevenlabs_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/redub/redub/shared/elevenlabs"
	"github.com/redub/redub/shared/elevenlabs/elevenlabstest"
	"github.com/redub/redub/shared/provider"
)

// speakAll synthesizes n lines at once through c and returns the errors.
func speakAll(c *elevenlabs.Client, n int) []error {
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			_, _, errs[i] = c.Synthesize(context.Background(), elevenlabs.SpeechRequest{Text: fmt.Sprintf("Line number %d.", i)})
		})
	}
	wg.Wait()
	return errs
}

// The fake never has more requests in flight than the pacer allows, and
// more than one when it allows more.
func TestPacerBoundsRequestsInFlight(t *testing.T) {
	t.Parallel()
	for _, limit := range []int{1, 3} {
		t.Run(fmt.Sprint(limit), func(t *testing.T) {
			t.Parallel()
			fake := elevenlabstest.New(t)
			fake.SetDelay(150 * time.Millisecond) // requests overlap whenever they may
			c := elevenlabs.New(fake.URL, fake.APIKey, fake.Client())
			c.Policy.Pacer = provider.NewPacer(limit)
			for _, err := range speakAll(c, 8) {
				require.NoError(t, err)
			}
			require.Equal(t, 8, fake.Calls())
			require.LessOrEqual(t, fake.MaxInFlight(), limit, "never more in flight than the limit")
			if limit > 1 {
				require.Greater(t, fake.MaxInFlight(), 1, "requests do run in parallel")
			}
		})
	}
}

// A 429 with Retry-After holds every request to the provider, not only the
// one that was told: no request reaches the fake while the hold lasts, and
// one hold is waited out, not one per goroutine.
func TestPacerHoldsEveryRequestOnRetryAfter(t *testing.T) {
	t.Parallel()
	fake := elevenlabstest.New(t)
	fake.SetDelay(200 * time.Millisecond) // the first three arrive before any is answered
	fake.FailNext(1, elevenlabstest.RateLimit(time.Second))
	c := elevenlabs.New(fake.URL, fake.APIKey, fake.Client())
	pacer := provider.NewPacer(3)
	c.Policy.Pacer = pacer
	type hold struct {
		wait          time.Duration
		before, after int
	}
	var (
		mu    sync.Mutex
		holds []hold
	)
	c.Policy.Sleep = func(_ context.Context, d time.Duration) error {
		h := hold{wait: d, before: fake.Calls()}
		// Real time for requests that ignored the hold to reach the fake;
		// the hold itself is this sleep, not the second the fake asked for.
		time.Sleep(300 * time.Millisecond)
		h.after = fake.Calls()
		mu.Lock()
		holds = append(holds, h)
		mu.Unlock()
		return nil
	}
	for _, err := range speakAll(c, 8) {
		require.NoError(t, err)
	}
	require.Len(t, holds, 1, "one hold for everyone")
	require.Equal(t, time.Second, holds[0].wait, "as long as Retry-After said")
	require.Equal(t, holds[0].before, holds[0].after, "no request reached the fake during the hold")
	require.Equal(t, 1, pacer.Holds())
	require.Equal(t, 9, fake.Calls(), "eight answered, one refused")
	require.LessOrEqual(t, fake.MaxInFlight(), 3)
}

// A request that would have to wait longer than the client waits is told
// at once, with the provider's error, instead of sleeping.
func TestPacerHandsBackLongHolds(t *testing.T) {
	t.Parallel()
	fake := elevenlabstest.New(t)
	fake.FailNext(1, elevenlabstest.RateLimit(time.Minute))
	c := elevenlabs.New(fake.URL, fake.APIKey, fake.Client())
	c.Policy.Pacer = provider.NewPacer(2)
	over := make(chan struct{})
	t.Cleanup(func() { close(over) })
	c.Policy.Sleep = func(context.Context, time.Duration) error { <-over; return nil } // the hold lasts the test
	_, _, err := c.Synthesize(context.Background(), elevenlabs.SpeechRequest{Text: "first"})
	var pe *provider.Error
	require.ErrorAs(t, err, &pe)
	require.Equal(t, 429, pe.Status)
	require.False(t, pe.Permanent)
	_, _, err = c.Synthesize(context.Background(), elevenlabs.SpeechRequest{Text: "second"})
	require.ErrorAs(t, err, &pe, "the next request is held too, and told so at once")
	require.Equal(t, 429, pe.Status)
	require.Greater(t, pe.RetryAfter, 50*time.Second)
	require.Equal(t, 1, fake.Calls(), "the held request was not sent")
}
