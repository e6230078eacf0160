package lambda

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// BenchmarkInvokeWarm measures an invoke through the pool on a warm
// environment: the pool's bookkeeping, the HTTP round trip to RIE and the
// runtime API exchange with the function.
func BenchmarkInvokeWarm(b *testing.B) {
	m := NewManager(Options{RIE: riePath(b)})
	b.Cleanup(func() { require.NoError(b, m.Close(context.Background())) })
	require.NoError(b, m.Add(FunctionSpec{Name: "Fn", Binary: binary(b, "fn")}))
	payload := []byte(`{"action":"echo","body":{"hello":"world"}}`)
	ctx := b.Context()
	_, err := m.Invoke(ctx, "Fn", payload) // the cold start
	require.NoError(b, err)

	for b.Loop() {
		if _, err := m.Invoke(ctx, "Fn", payload); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkColdStart measures a cold start from the RIE process's start to
// the first answer, for functions/health and for a bare hello-world built the
// same way. It reports the two parts: the RIE process listening (ready-ms)
// and the first invoke, which runs the function's init (first-invoke-ms).
func BenchmarkColdStart(b *testing.B) {
	ev, err := os.ReadFile(filepath.Join(repoRoot(b), "functions", "health", "event.json"))
	require.NoError(b, err)
	for _, tc := range []struct {
		name    string
		binary  string
		env     map[string]string
		payload []byte
	}{
		{"hello", "hello", nil, []byte(`{}`)},
		{"health", "health", healthEnv, ev},
	} {
		b.Run(tc.name, func(b *testing.B) {
			rie, bin := riePath(b), binary(b, tc.binary)
			var ready, first time.Duration
			for b.Loop() {
				r, f := measureColdStart(b, rie, FunctionSpec{Name: "Fn", Binary: bin, Env: tc.env}, tc.payload)
				ready += r
				first += f
			}
			b.ReportMetric(float64(ready.Microseconds())/1000/float64(b.N), "ready-ms")
			b.ReportMetric(float64(first.Microseconds())/1000/float64(b.N), "first-invoke-ms")
		})
	}
}

// measureColdStart starts a fresh environment for spec and invokes it once.
// It returns how long the RIE process took to listen and how long the first
// invoke took; their sum is the cold start.
func measureColdStart(tb testing.TB, rie string, spec FunctionSpec, payload []byte) (ready, first time.Duration) {
	tb.Helper()
	m := NewManager(Options{RIE: rie})
	defer func() { require.NoError(tb, m.Close(context.Background())) }()
	require.NoError(tb, m.Add(spec))
	ctx := context.Background()
	start := time.Now()
	require.NoError(tb, m.Warm(ctx, spec.Name))
	ready = time.Since(start)
	res, err := m.Invoke(ctx, spec.Name, payload)
	require.NoError(tb, err)
	require.Empty(tb, res.FunctionError, "%s", res.Payload)
	first = time.Since(start) - ready
	return ready, first
}

// TestColdStart runs a few cold starts of each function and logs the times
// (go test -run ColdStart -v); BenchmarkColdStart measures them properly.
func TestColdStart(t *testing.T) {
	t.Parallel()
	rie := riePath(t)
	ev, err := os.ReadFile(filepath.Join(repoRoot(t), "functions", "health", "event.json"))
	require.NoError(t, err)
	for _, tc := range []struct {
		name    string
		env     map[string]string
		payload []byte
	}{
		{"hello", nil, []byte(`{}`)},
		{"health", healthEnv, ev},
	} {
		bin := binary(t, tc.name)
		const runs = 5
		var ready, first time.Duration
		for range runs {
			r, f := measureColdStart(t, rie, FunctionSpec{Name: "Fn", Binary: bin, Env: tc.env}, tc.payload)
			ready += r
			first += f
		}
		t.Logf("%s: RIE listening %v, first invoke %v, cold start %v (mean of %d)",
			tc.name, ready/runs, first/runs, (ready+first)/runs, runs)
	}
}
