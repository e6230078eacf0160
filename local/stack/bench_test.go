package stack_test

import (
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/redub/redub/local/lambda"
)

// BenchmarkWarmInvoke compares a warm invoke of HealthFunction through the
// gateway (HTTP request -> payload 2.0 event -> RIE -> response mapping)
// with a direct invoke of the same function through its RIE pool. The
// difference at p50 is what the gateway adds (target: at most 1 ms).
//
//	make bench  (or: go run ./cmd/redub db run -- go test -run '^$' -bench WarmInvoke ./local/stack)
func BenchmarkWarmInvoke(b *testing.B) {
	st, _, _ := startStackB(b)
	event, err := os.ReadFile(filepath.Join(repoRootB(b), "functions/health/event.json"))
	require.NoError(b, err)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}

	b.Run("direct", func(b *testing.B) {
		lat := make([]time.Duration, 0, b.N)
		for b.Loop() {
			start := time.Now()
			if _, err := st.Invoke(context.Background(), "HealthFunction", event); err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(start))
		}
		report(b, lat)
	})
	b.Run("gateway", func(b *testing.B) {
		lat := make([]time.Duration, 0, b.N)
		for b.Loop() {
			start := time.Now()
			res, err := client.Get(st.APIURL() + "/health")
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode != 200 {
				b.Fatalf("status %d", res.StatusCode)
			}
			lat = append(lat, time.Since(start))
		}
		report(b, lat)
	})
}

func report(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}

// BenchmarkColdStart measures each function of the template from process
// start to first response (a fresh aws-lambda-rie + function, one invoke of
// its event.json), next to a bare hello-world Lambda built the same way
// (local/lambda/testdata/hello). Target: at most 1.5x the hello-world.
//
//	go run ./cmd/redub db run -- go test -run '^$' -bench ColdStart -benchtime 10x ./local/stack
func BenchmarkColdStart(b *testing.B) {
	st, _, _ := startStackB(b)
	hello := filepath.Join(b.TempDir(), "hello")
	build := exec.Command("go", "build", "-tags", "lambda.norpc", "-trimpath", "-ldflags", "-s -w", "-o", hello, "./local/lambda/testdata/hello")
	build.Dir = repoRootB(b)
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := build.CombinedOutput()
	require.NoError(b, err, "%s", out)

	cold := func(b *testing.B, spec lambda.FunctionSpec, payload []byte) {
		var total time.Duration
		for b.Loop() {
			m := lambda.NewManager(lambda.Options{RIE: st.RIE(), Log: io.Discard})
			spec.Name = "Fn"
			require.NoError(b, m.Add(spec))
			start := time.Now()
			_, err := m.Invoke(context.Background(), "Fn", payload)
			total += time.Since(start)
			require.NoError(b, err)
			require.NoError(b, m.Close(context.Background()))
		}
		b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "cold-ms")
	}
	b.Run("hello", func(b *testing.B) { cold(b, lambda.FunctionSpec{Binary: hello}, []byte(`{}`)) })
	ids := make([]string, 0)
	for id := range st.Template().Functions {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		spec, _ := st.FunctionSpec(id)
		payload, err := os.ReadFile(filepath.Join(repoRootB(b), st.Template().Functions[id].Dir, "event.json"))
		require.NoError(b, err)
		b.Run(id, func(b *testing.B) { cold(b, spec, payload) })
	}
}
